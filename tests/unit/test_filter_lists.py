"""Reading category lists: every format's good, odd and bad lines, the reports, auto-detection, the
block-at-once fast path against the line-by-line parser, and the real lists in the shared data.

The real lists are looked for in ../shared/data/blocklists beside the repository, or in
$SIMPUL_SHARED_DATA/blocklists; their tests are skipped when the directory is absent.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from simpul.filtering.lists import (
    FORMATS,
    MAX_BAD_SAMPLES,
    BadLine,
    Kind,
    ListError,
    ListParser,
    ListReport,
    _names_ok,
    detect_format,
    normalize,
    parse,
    read,
    read_blocks,
)

SHARED_DATA = Path(
    os.environ.get("SIMPUL_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
BLOCKLISTS = SHARED_DATA / "blocklists"

EXACT, SUBTREE, SUBDOMAINS = Kind.EXACT, Kind.SUBTREE, Kind.SUBDOMAINS


def entries(
    text: str, fmt: str = "auto", default_kind: Kind = SUBTREE
) -> tuple[list[tuple[str, Kind]], ListReport]:
    return parse(text.splitlines(), fmt, default_kind=default_kind)


def bad(report: ListReport) -> list[tuple[int, str]]:
    return [(b.number, b.reason) for b in report.bad_samples]


# Names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("r1---sn-abc.googlevideo.com", "r1---sn-abc.googlevideo.com"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("a.b.c.d.e.f.g", "a.b.c.d.e.f.g"),
        ("1.2.3.example", "1.2.3.example"),
        (f"{'a' * 63}.com", f"{'a' * 63}.com"),
        ("localhost", None),  # a single label
        ("com.", None),
        ("", None),
        (".", None),
        ("example..com", None),
        (".example.com", None),
        ("example.com..", None),
        ("-example.com", None),
        ("example-.com", None),
        ("example.-com", None),
        (f"{'a' * 64}.com", None),
        ("a." * 126 + "com", None),  # 255 characters
        ("1.2.3.4", None),
        ("example.123", None),
        ("exa mple.com", None),
        ("*.example.com", None),
        ("bücher.de", None),
        ("example.\u212aom", None),  # KELVIN SIGN lowercases to an ASCII k: still not ASCII
    ],
)
def test_normalize(name: str, expected: str | None) -> None:
    assert normalize(name) == expected


def test_normalize_length_limit_is_253() -> None:
    name = ".".join(["a" * 49] * 5) + ".com"  # 5 × 50 - 1 + 4
    assert len(name) == 253
    assert normalize(name) == name
    assert normalize(name + ".") == name
    assert normalize("x" + name) is None


def test_block_name_check_agrees_with_normalize() -> None:
    """The fast path's whole-list check accepts exactly what normalize leaves unchanged."""
    rng = random.Random(7)
    alphabet = "ab0_-.-..*=A é"
    pieces = ["a" * 63, "b" * 64, "com", "1", "x-", "-y", "xn--z", "9.9"]
    tokens = []
    for _ in range(6000):
        if rng.random() < 0.5:
            tokens.append("".join(rng.choices(alphabet, k=rng.randint(0, 9))))
        else:
            tokens.append(".".join(rng.choices(pieces, k=rng.randint(1, 5))))
    tokens += ["a" * 250 + ".com", "a" * 249 + ".com", "ok.com", "x.y"]
    for token in tokens:
        low = token.lower() if token.isascii() else token
        assert _names_ok([low], low) == (normalize(low) == low), token
    for _ in range(3000):
        names = [t.lower() for t in rng.sample(tokens, rng.randint(1, 4)) if t.isascii()]
        if names:
            expected = all(normalize(n) == n for n in names)
            assert _names_ok(names, "\n".join(names)) == expected, names


def test_bad_name_reasons() -> None:
    text = "\n".join(
        [
            "foo..bar",
            "bücher.de",
            "localhost",
            "1.2.3.4",
            f"{'a' * 64}.com",
            "-a.com",
            "a!b.com",
            "a.b" * 90,
            "ok.example.com",
        ]
    )
    got, report = entries(text, "plain")
    assert got == [("ok.example.com", SUBTREE)]
    assert bad(report) == [
        (1, "not a host name (empty label)"),
        (2, "not a host name (use punycode: xn--…)"),
        (3, "not a host name (a single label)"),
        (4, "not a host name (an IP address)"),
        (5, "not a host name (label longer than 63 characters)"),
        (6, "not a host name (label starts or ends with '-')"),
        (7, "not a host name (character '!')"),
        (8, "not a host name (longer than 253 characters)"),
    ]
    assert report.summary() == (
        "<list> (plain): 1 name, 8 bad lines (line 1: not a host name (empty label): 'foo..bar')"
    )


# Formats


def test_plain() -> None:
    text = """# Title: a plain list
! not a comment in plain lists

Example.COM
www.example.org.
*.wild.example
=only.example
example.net # an inline comment
   spaced.example
example.com
two.example three.example
*.example
"""
    got, report = entries(text, "plain", default_kind=EXACT)
    assert got == [
        ("example.com", EXACT),
        ("www.example.org", EXACT),
        ("wild.example", SUBDOMAINS),
        ("only.example", EXACT),
        ("example.net", EXACT),
        ("spaced.example", EXACT),
    ]
    assert (report.lines, report.entries, report.duplicates) == (12, 6, 1)
    assert report.ignored == 2  # the comment, the blank line
    assert bad(report) == [
        (2, "more than one field on the line (a hosts file?)"),
        (11, "more than one field on the line (a hosts file?)"),
        (12, "not a host name (a single label)"),
    ]
    assert report.bad_samples[1].text == "two.example three.example"


def test_hosts() -> None:
    text = """# hosts
127.0.0.1 localhost
127.0.0.1 localhost.localdomain local
255.255.255.255 broadcasthost
::1 localhost ip6-localhost ip6-loopback
fe80::1%lo0 localhost
0.0.0.0 0.0.0.0
0.0.0.0 ads.example.com
0.0.0.0\tTRACK.example.com   # inline comment
127.0.0.1 a.example b.example
:: v6.example
0.0.0.0 ads.example.com
0.0.0.0 good.example bad..example
0.0.0.0
ads.example.net
300.1.1.1 x.example
#0.0.0.0 commented.example
"""
    got, report = entries(text, "hosts")
    assert got == [
        ("ads.example.com", SUBTREE),
        ("track.example.com", SUBTREE),
        ("a.example", SUBTREE),
        ("b.example", SUBTREE),
        ("v6.example", SUBTREE),
        ("good.example", SUBTREE),
    ]
    assert report.duplicates == 1
    assert report.ignored == 8  # 2 comments, 6 localhost-type lines
    assert bad(report) == [
        (13, "not a host name (empty label)"),
        (14, "hosts line without a name"),
        (15, "hosts line does not start with an IP address"),
        (16, "hosts line does not start with an IP address"),
    ]


def test_adblock() -> None:
    text = """[Adblock Plus 2.0]
! Title: an adblock list
# also a comment
||ads.example.com^
||Tracker.Example.NET^
||ads.example.com^$third-party
@@||allowed.example.com^
example.com##.banner
example.com#@#.banner
||example.com/ads/*
/banner/*
|https://x.example^
||sub.ads.example.com^
||bad..example^
"""
    got, report = entries(text)
    assert report.format == "adblock"
    assert got == [
        ("ads.example.com", SUBTREE),
        ("tracker.example.net", SUBTREE),
        ("sub.ads.example.com", SUBTREE),
    ]
    assert report.ignored == 3
    assert bad(report) == [
        (6, "adblock rule with options is not a name rule"),
        (7, "adblock exception (@@) rules are not block entries"),
        (8, "adblock cosmetic rule (##) is not a name rule"),
        (9, "adblock cosmetic rule (##) is not a name rule"),
        (10, "adblock rule is not a ||name^ rule"),
        (11, "adblock rule is not a ||name^ rule"),
        (12, "adblock rule is not a ||name^ rule"),
        (14, "not a host name (empty label)"),
    ]


def test_adblock_default_kind_does_not_apply() -> None:
    got, _ = entries("||a.example^", "adblock", default_kind=EXACT)
    assert got == [("a.example", SUBTREE)]


def test_dnsmasq() -> None:
    text = """# dnsmasq
server=/a.example/
address=/b.example/0.0.0.0
address=/c.example/::
local=/d.example/
server=/e.example/f.example/1.1.1.1
server=/*.g.example/
SERVER=/H.example/
server=/#/1.1.1.1
server=//1.1.1.1
cache-size=1000
server=/no-close.example
server=1.1.1.1
"""
    got, report = entries(text)
    assert report.format == "dnsmasq"
    assert got == [
        ("a.example", SUBTREE),
        ("b.example", SUBTREE),
        ("c.example", SUBTREE),
        ("d.example", SUBTREE),
        ("e.example", SUBTREE),
        ("f.example", SUBTREE),
        ("g.example", SUBDOMAINS),
        ("h.example", SUBTREE),
    ]
    assert bad(report) == [
        (9, "not a host name (character '#')"),
        (10, "not a host name (empty)"),
        (11, "dnsmasq line is not server=/…/, address=/…/ or local=/…/"),
        (12, "dnsmasq rule without a closing '/'"),
        (13, "dnsmasq line is not server=/…/, address=/…/ or local=/…/"),
    ]


RPZ = """$TTL 2h
$ORIGIN rpz.example.
@ IN SOA localhost. root.localhost. (
        2024070101 ; serial
        1h         ; refresh
        15m 30d 2h )
  IN NS localhost.
@ NS ns.rpz.example.
; TrustPositif style
judi.example CNAME .
*.judi.example CNAME .
slot.example IN CNAME .
togel.example 300 IN CNAME .
poker.example.rpz.example. CNAME .
absolute.example. CNAME .
walled.example CNAME lamanlabuh.aduankonten.id.
nodata.example CNAME *.
drop.example CNAME rpz-drop.
redirect.example A 10.0.0.1
  AAAA ::1
allowed.example CNAME rpz-passthru.
tcp.example CNAME rpz-tcp-only.
32.1.2.0.192.rpz-ip CNAME .
ns.evil.rpz-nsdname CNAME .
rpz.example. CNAME .
bad..example CNAME .
UPPER.Example CNAME .
$INCLUDE other.zone
"""


def test_rpz() -> None:
    got, report = entries(RPZ)
    assert report.format == "rpz"
    assert got == [
        ("judi.example", EXACT),
        ("judi.example", SUBDOMAINS),
        ("slot.example", EXACT),
        ("togel.example", EXACT),
        ("poker.example", EXACT),
        ("absolute.example", EXACT),
        ("walled.example", EXACT),
        ("nodata.example", EXACT),
        ("drop.example", EXACT),
        ("redirect.example", EXACT),
        ("upper.example", EXACT),
    ]
    assert report.duplicates == 1  # the AAAA record for redirect.example
    assert report.ignored == 9  # $TTL, $ORIGIN, the SOA's 4 lines, 2 NS, the comment
    assert bad(report) == [
        (21, "RPZ passthru (allow) rules are not block entries"),
        (22, "RPZ tcp-only rules are not block entries"),
        (23, "RPZ IP/NSDNAME triggers are not name entries"),
        (24, "RPZ IP/NSDNAME triggers are not name entries"),
        (25, "record at the zone apex is not a name entry"),
        (26, "not a host name (empty label)"),
        (28, "zone directive $INCLUDE is not supported"),
    ]


def test_rpz_without_origin_and_unclosed_parenthesis() -> None:
    got, report = entries("a.example. CNAME .\n@ SOA x. y. ( 1 2 3\nb.example CNAME .\n", "rpz")
    assert got == [("a.example", EXACT)]  # b.example is inside the unclosed SOA
    assert bad(report) == [(2, "'(' without ')' before the end of the zone")]


def test_rpz_default_kind_does_not_apply() -> None:
    got, _ = entries("a.example CNAME .\n*.b.example CNAME .", "rpz", default_kind=SUBTREE)
    assert got == [("a.example", EXACT), ("b.example", SUBDOMAINS)]


# Detection, reports, errors


@pytest.mark.parametrize(
    ("sample", "fmt"),
    [
        (["# comment", "example.com", "*.example.org"], "plain"),
        (["# comment", "0.0.0.0 example.com", "127.0.0.1 localhost"], "hosts"),
        (["::1 localhost", "0.0.0.0 a.example"], "hosts"),
        (["[Adblock Plus 2.0]", "example.com"], "adblock"),
        (["! comment", "||example.com^"], "adblock"),
        (["! only comments"], "adblock"),
        (["server=/example.com/", "# x"], "dnsmasq"),
        (["address=/example.com/0.0.0.0"], "dnsmasq"),
        (["$TTL 2h", "a.example CNAME ."], "rpz"),
        (["a.example IN CNAME .", "b.example CNAME ."], "rpz"),
        (["; zone comment"], "rpz"),
        ([], "plain"),
        (["", "# only comments"], "plain"),
    ],
)
def test_detect_format(sample: list[str], fmt: str) -> None:
    assert detect_format(sample) == fmt


def test_auto_reports_the_detected_format() -> None:
    _, report = entries("0.0.0.0 a.example\n0.0.0.0 b.example")
    assert report.format == "hosts"
    _, report = entries("")
    assert (report.format, report.entries) == ("plain", 0)


def test_bad_samples_are_capped_and_cut() -> None:
    lines = [f"bad..{i}.example" for i in range(50)] + ["x" * 300]
    _, report = parse(lines, "plain")
    assert report.bad == 51
    assert len(report.bad_samples) == MAX_BAD_SAMPLES
    assert [b.number for b in report.bad_samples] == list(range(1, 21))
    _, report = parse(["x" * 300], "plain")
    assert report.bad_samples[0].text == "x" * 200


def test_summary() -> None:
    report = ListReport("youtube.txt", "hosts", lines=24_295, entries=24_280, ignored=15)
    assert report.summary() == "youtube.txt (hosts): 24,280 names, 15 ignored"
    report = ListReport("l", "plain", entries=2, duplicates=1, bad=3)
    report.bad_samples.append(BadLine(4, "a..b", "why"))
    assert report.summary() == "l (plain): 2 names, 1 duplicate, 3 bad lines (line 4: why: 'a..b')"


def test_unknown_format() -> None:
    with pytest.raises(ListError, match="unknown list format 'json'"):
        parse([], "json")
    with pytest.raises(ListError, match="unknown list format"):
        read("/nonexistent", "json")
    assert "auto" in FORMATS


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ListError, match="cannot read"):
        read(tmp_path / "missing.txt")
    with pytest.raises(ListError, match="cannot read"):
        read(tmp_path)  # a directory


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "list.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)))
    with pytest.raises(ListError, match="binary file"):
        read(path)


def test_file_encodings_and_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(
        b"\xef\xbb\xbfa.example\r\n# caf\xe9 comment\r\n"
        b"b\xe9.example\r\n\xff\xfe.example\rc.example"
    )
    got, report = read(path)
    assert got == [("a.example", SUBTREE), ("c.example", SUBTREE)]
    assert report.format == "plain"
    assert report.lines == 5
    assert bad(report) == [(3, "not valid UTF-8"), (4, "not valid UTF-8")]
    assert report.source == str(path)


def test_blocks_cover_the_file_exactly(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    lines = [f"n{i}.example" for i in range(3000)]
    path.write_text("\n".join(lines) + "\n")
    blocks = list(read_blocks(path, block_chars=1000))
    assert len(blocks) > 10
    assert "\n".join(blocks).split("\n") == lines
    path.write_text("x" * 5000)
    with pytest.raises(ListError, match="a line longer than"):
        list(read_blocks(path, block_chars=100))


def test_line_numbers_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    lines = [f"0.0.0.0 n{i}.example" for i in range(40_000)]
    lines[33_333] = "0.0.0.0 bad..example"
    lines[39_999] = "0.0.0.0 n39999.example # odd, but fine"
    path.write_text("\n".join(lines) + "\n")
    _, report = read(path)
    assert (report.format, report.entries, report.lines) == ("hosts", 39_999, 40_000)
    assert bad(report) == [(33_334, "not a host name (empty label)")]


# The fast path against the line parser


def _messy(fmt: str, n: int, seed: int) -> list[str]:
    """n lines of `fmt`: mostly the ordinary shape, some odd (good or bad) lines among them."""
    rng = random.Random(seed)
    odd = {
        "plain": ["# c", "", "A.Example", "x.example.", "*.w.example", "=e.example", "a b", "b..c"],
        "hosts": ["# c", "127.0.0.1 localhost", "0.0.0.0 a.example b.example", "0.0.0.0",
                  "1.2.3.4 x.example", "0.0.0.0 localhost.localdomain", "0.0.0.0 *.w.example"],
        "adblock": ["! c", "||a.example^$third-party", "@@||b.example^", "||W.Example^", "x##y"],
        "dnsmasq": ["# c", "server=/a.example/b.example/", "address=/c.example/0.0.0.0",
                    "server=/*.w.example/", "server=/#/"],
        "rpz": ["; c", "$ORIGIN z.", "x.z. CNAME .", "@ SOA a. b. ( 1\n 2 3 )", "  A 1.2.3.4",
                "y.example CNAME rpz-passthru.", "1.0.0.127.rpz-ip CNAME .", "*.w.example CNAME ."],
    }[fmt]  # fmt: skip
    shape = {"plain": "{}", "hosts": "0.0.0.0 {}", "adblock": "||{}^", "dnsmasq": "server=/{}/",
             "rpz": "{} CNAME ."}[fmt]  # fmt: skip
    lines = []
    for i in range(n):
        if rng.random() < 0.01:
            lines.extend(rng.choice(odd).split("\n"))
        else:
            name = f"{'*.' if fmt in ('plain', 'rpz') and rng.random() < 0.05 else ''}n{i}.example"
            lines.append(shape.format(name))
    return lines


@pytest.mark.parametrize("fmt", ["plain", "hosts", "adblock", "dnsmasq", "rpz"])
def test_fast_path_equals_line_parser(fmt: str) -> None:
    lines = _messy(fmt, 6000, seed=len(fmt))
    results = []
    for fast in (True, False):
        parser = ListParser(fmt, fast=fast)
        found: Counter[tuple[str, Kind]] = Counter()
        for start in range(0, len(lines), 2500):  # a few blocks, like read_blocks gives them
            for names, kind in parser.feed("\n".join(lines[start : start + 2500])):
                found.update((name, kind) for name in names)
        parser.finish()
        results.append((found, parser.report))
    (fast_found, fast_report), (slow_found, slow_report) = results
    assert fast_found == slow_found
    assert fast_report == slow_report
    assert sum(fast_found.values()) > 5000


def test_fast_path_is_used() -> None:
    """Most of a big ordinary list goes through the fast path (a parser for whom every line is
    odd would need minutes here)."""
    parser = ListParser("hosts")
    calls = 0
    line_parser = parser._hosts

    def counting(line: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return line_parser(line)

    parser._hosts = counting  # type: ignore[method-assign]
    text = "\n".join(f"0.0.0.0 n{i}.example" for i in range(100_000))
    batches = parser.feed(text)
    assert sum(len(names) for names, _ in batches) == 100_000
    assert calls < 100


def test_learned_shape_must_parse_back() -> None:
    """A line shape that would mean something else for other names is not learned."""
    parser = ListParser("rpz")
    got = parser.feed("a.example CNAME . (\nb.example CNAME .\n)")
    assert got == [(["a.example"], EXACT)]  # b.example is inside parentheses, like SOA fields


# The real lists

# entries as read, and their own header's count. SOURCE.md's table differs: for the hosts, plain
# and dnsmasq files it counts one more (the blank line after the header); for youtube-adblock.txt
# it counts every line (the 15 "!" comment lines too). No file has duplicates or invalid names.
REAL = {
    "youtube.txt": ("hosts", 24_280, 15),
    "youtube-adblock.txt": ("adblock", 24_280, 15),
    "tiktok.txt": ("hosts", 3_725, 13),
    "tiktok-plain.txt": ("plain", 3_725, 13),
    "facebook.txt": ("hosts", 22_362, 13),
    "twitter.txt": ("hosts", 1_193, 13),
    "piracy.txt": ("hosts", 2_154, 13),
    "piracy-dnsmasq.txt": ("dnsmasq", 2_154, 13),
    "torrent.txt": ("hosts", 2_620, 13),
    "scam.txt": ("hosts", 8_527, 13),
    "redirect.txt": ("hosts", 108_685, 13),
}
_HEADER_COUNT = re.compile(r"^[#!] (?:Entries|Total number of network filters): ([\d,]+)", re.M)


def real_list(name: str) -> Path:
    if not BLOCKLISTS.is_dir():
        pytest.skip(f"no shared block lists at {BLOCKLISTS} (set SIMPUL_SHARED_DATA)")
    return BLOCKLISTS / name


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_list(name: str) -> None:
    path = real_list(name)
    fmt, count, ignored = REAL[name]
    got, report = read(path)
    assert (report.format, report.entries, report.ignored) == (fmt, count, ignored)
    assert (report.duplicates, report.bad) == (0, 0)
    assert report.lines == report.entries + report.ignored
    assert len(got) == count
    header = _HEADER_COUNT.search(path.read_text())
    assert header is not None
    assert int(header.group(1).replace(",", "")) == count
    if fmt == "hosts":  # the same names with the format given instead of detected
        assert read(path, "hosts")[0] == got


def test_real_lists_agree_across_formats() -> None:
    hosts, _ = read(real_list("youtube.txt"))
    adblock, _ = read(real_list("youtube-adblock.txt"))
    assert hosts == adblock
    assert read(real_list("tiktok.txt"))[0] == read(real_list("tiktok-plain.txt"))[0]
    assert read(real_list("piracy.txt"))[0] == read(real_list("piracy-dnsmasq.txt"))[0]


def test_real_list_source_md_counts() -> None:
    """SOURCE.md's counts, and why they differ from ours (see REAL)."""
    table = dict(re.findall(r"^\| ([\w.-]+\.txt) \| .*? \| ([\d,]+) \|$", real_list("SOURCE.md")
                            .read_text(), re.M))  # fmt: skip
    assert set(table) == set(REAL)
    for name, (_, count, ignored) in REAL.items():
        listed = int(table[name].replace(",", ""))
        if name == "youtube-adblock.txt":
            assert listed == count + ignored  # every line
        elif name == "youtube.txt":
            assert listed == count
        else:
            assert listed == count + 1  # the blank line
