"""The compact name set: matching semantics, agreement with a plain reference on a random list of
50,000 entries, the streaming loader (spooled runs, both table sizes) and the real lists."""

from __future__ import annotations

import pickle
import random
import re
import sys
from pathlib import Path

import pytest

from simpul.filtering import matcher
from simpul.filtering.lists import Kind, ListError, read
from simpul.filtering.matcher import DomainSet, Match

from .test_filter_lists import real_list

EXACT, SUBTREE, SUBDOMAINS = Kind.EXACT, Kind.SUBTREE, Kind.SUBDOMAINS


@pytest.fixture(scope="module")
def small() -> DomainSet:
    return DomainSet.from_entries(
        [
            ("youtube.com", SUBTREE),
            ("googlevideo.com", SUBDOMAINS),
            ("only.example", EXACT),
            ("ads.only.example", SUBTREE),
            ("deep.a.b.example", SUBTREE),
            ("b.example", SUBDOMAINS),
            ("both.example", EXACT),
            ("both.example", SUBTREE),
            ("both.example", SUBDOMAINS),
        ]
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("youtube.com", Match("youtube.com", SUBTREE)),
        ("www.youtube.com", Match("youtube.com", SUBTREE)),
        ("a.b.c.d.youtube.com", Match("youtube.com", SUBTREE)),
        ("googlevideo.com", None),  # "*.x" is strict subdomains only
        ("r1---sn-abc.googlevideo.com", Match("*.googlevideo.com", SUBDOMAINS)),
        ("only.example", Match("=only.example", EXACT)),
        ("www.only.example", None),  # "=x" is the name only
        ("ads.only.example", Match("ads.only.example", SUBTREE)),
        ("x.ads.only.example", Match("ads.only.example", SUBTREE)),
        ("x.deep.a.b.example", Match("deep.a.b.example", SUBTREE)),  # the most specific
        ("a.b.example", Match("*.b.example", SUBDOMAINS)),
        ("both.example", Match("=both.example", EXACT)),  # exact entries first
        ("x.both.example", Match("both.example", SUBTREE)),
        ("youtube.co", None),
        ("notyoutube.com", None),
        ("com", None),
        ("example", None),
        ("", None),
        (".", None),
    ],
)
def test_match(small: DomainSet, name: str, expected: Match | None) -> None:
    assert small.match(name) == expected
    assert (name in small) == (expected is not None)


def test_case_and_trailing_dot(small: DomainSet) -> None:
    assert small.match("WWW.YouTube.COM.") == Match("youtube.com", SUBTREE)
    assert small.match("Only.Example.") == Match("=only.example", EXACT)
    assert small.match("youtube.com..") is None


def test_size(small: DomainSet) -> None:
    assert len(small) == 9  # a name with three kinds is three entries
    assert 0 < small.nbytes < 10_000
    assert "9 entries" in repr(small)


def test_empty() -> None:
    empty = DomainSet.from_entries([])
    assert len(empty) == 0
    assert empty.nbytes == 0
    assert empty.match("example.com") is None


def test_from_entries_normalizes_and_refuses_bad_names() -> None:
    names = DomainSet.from_entries([("Example.COM.", SUBTREE), ("example.com", SUBTREE)])
    assert len(names) == 1
    assert names.match("www.example.com") == Match("example.com", SUBTREE)
    with pytest.raises(ValueError, match=re.escape("not a host name: '*.example.com'")):
        DomainSet.from_entries([("*.example.com", SUBDOMAINS)])


def test_not_picklable(small: DomainSet) -> None:
    for names in (small, DomainSet.from_entries([])):
        with pytest.raises(TypeError, match="only valid in the process that built it"):
            pickle.dumps(names)


# Agreement with a reference implementation


class Reference:
    """The obvious implementation: names in three Python sets, walked label by label."""

    def __init__(self, entries: list[tuple[str, Kind]]) -> None:
        self.sets: dict[Kind, set[str]] = {kind: set() for kind in Kind}
        for name, kind in entries:
            self.sets[kind].add(name)

    def match(self, name: str) -> Match | None:
        if name in self.sets[EXACT]:
            return Match(f"={name}", EXACT)
        if name in self.sets[SUBTREE]:
            return Match(name, SUBTREE)
        labels = name.split(".")
        for i in range(1, len(labels) - 1):
            suffix = ".".join(labels[i:])
            if suffix in self.sets[SUBTREE]:
                return Match(suffix, SUBTREE)
            if suffix in self.sets[SUBDOMAINS]:
                return Match(f"*.{suffix}", SUBDOMAINS)
        return None


def random_entries(n: int, seed: int) -> list[tuple[str, Kind]]:
    """n entries that nest: names under a few thousand domains, at depths 0-3, of any kind."""
    rng = random.Random(seed)
    tlds = ["com", "net", "id", "co.id", "xyz"]
    domains = [f"d{i}{rng.choice('abcxyz')}.{rng.choice(tlds)}" for i in range(n // 10)]
    out = []
    for _ in range(n):
        labels = [f"l{rng.randrange(30)}" for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))]
        name = ".".join([*labels, rng.choice(domains)])
        out.append((name, rng.choices((SUBTREE, EXACT, SUBDOMAINS), (6, 3, 1))[0]))
    return out


def queries_for(entries: list[tuple[str, Kind]], seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for name, _ in entries:
        out.append(name)  # present
        out.append(f"q{rng.randrange(5)}.{name}")  # a subdomain
        out.append(name.split(".", 1)[1])  # the parent (often a bare TLD: never an entry)
        out.append(f"x{rng.randrange(10**9)}.{name.rsplit('.', 2)[-2]}.zz")  # absent
    return out


def test_agrees_with_reference() -> None:
    entries = random_entries(50_000, seed=11)
    names = DomainSet.from_entries(entries)
    reference = Reference(entries)
    assert len(names) == sum(len(s) for s in reference.sets.values())
    queries = queries_for(entries[::3], seed=12)
    results = [names.match(q) for q in queries]
    assert results == [reference.match(q) for q in queries]
    kinds = {m.kind for m in results if m}
    assert kinds == set(Kind)  # every kind was hit
    assert sum(m is None for m in results) > len(results) // 5  # and many misses


@pytest.mark.parametrize(("stage_max", "small_max"), [(1_000, 100), (10**9, 10**9)])
def test_load_streams_and_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage_max: int, small_max: int
) -> None:
    """Loading a file gives the same set however the hashes were spooled and the table laid out
    (tiny thresholds: many runs on disk and 65,536 buckets; huge: all in memory, 256 buckets)."""
    monkeypatch.setattr(matcher, "_STAGE_MAX", stage_max)
    monkeypatch.setattr(matcher, "_SMALL", small_max)
    entries = random_entries(20_000, seed=21)
    prefix = {EXACT: "=", SUBTREE: "", SUBDOMAINS: "*."}
    path = tmp_path / "list.txt"
    path.write_text("".join(f"{prefix[kind]}{name}\n" for name, kind in entries) + "bad..x\n")
    names, report = DomainSet.load(path, "plain")
    reference = Reference(entries)
    assert (report.entries, report.bad) == (len(names), 1)
    assert report.entries + report.duplicates == len(entries)
    assert len(names) == sum(len(s) for s in reference.sets.values())
    queries = queries_for(entries[::4], seed=22)
    assert [names.match(q) for q in queries] == [reference.match(q) for q in queries]


def test_key_split_without_the_byte_trick(monkeypatch: pytest.MonkeyPatch) -> None:
    values = sorted(random.Random(5).getrandbits(64) for _ in range(1000))
    for bits in (8, 16):
        fast = [bytes(part) for part in matcher._split(values, bits)]
        monkeypatch.setattr(sys, "byteorder", "big")
        slow = [part.tobytes() for part in matcher._split(values, bits)]  # type: ignore[union-attr]
        monkeypatch.undo()
        assert fast == slow


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ListError, match="cannot read"):
        DomainSet.load(tmp_path / "missing.txt")
    binary = tmp_path / "binary"
    binary.write_bytes(b"a.example\n" * 10 + b"\x00")
    with pytest.raises(ListError, match="binary"):
        DomainSet.load(binary)
    with pytest.raises(ListError, match="unknown list format"):
        DomainSet.load(tmp_path / "missing.txt", "yaml")


def test_default_kind(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("0.0.0.0 a.example\n")
    exact, _ = DomainSet.load(path, default_kind=EXACT)
    assert exact.match("a.example") == Match("=a.example", EXACT)
    assert exact.match("www.a.example") is None
    subtree, report = DomainSet.load(path)
    assert subtree.match("www.a.example") == Match("a.example", SUBTREE)
    assert report.summary() == f"{path} (hosts): 1 name"


@pytest.mark.parametrize("name", ["youtube.txt", "youtube-adblock.txt", "redirect.txt"])
def test_real_list(name: str) -> None:
    path = real_list(name)
    names, report = DomainSet.load(path)
    listed, expected = read(path)
    assert report == expected
    assert len(names) == len(listed) == report.entries
    for entry, _ in listed[::50]:
        assert names.match(entry) == Match(entry, SUBTREE)
        assert names.match(f"x-test.{entry}") == Match(entry, SUBTREE)
    assert names.match("example.com") is None
