"""A compact set of list entries for the policy DNS front end: millions of names, few bytes each.

`DomainSet` answers "is this query name, or a name enclosing it, in the list?" without keeping any
name as a string. Each entry is a 64-bit hash (Python's `hash()` of the name), kept in three sorted
tables, one per `Kind` (exact, subtree, strict subdomains). `match()` hashes the query name and
each enclosing suffix of at least two labels and looks each hash up in the tables that are not
empty: for a 5-label name at most 2 + 2×3 = 8 probes, usually 4 (most lists use one or two kinds).

Layout of one table of n entries. The 64 hash bits are split, high to low, into a bucket number of
b bits, a 32-bit key and a 16-bit check; b is 8 for up to 131,072 entries (at most ~512 entries a
bucket, 1 KiB of offsets), else 16 (~100 entries a bucket at 6.7 million, 256 KiB of offsets), and
the last 16 - b bits are dropped. `offsets` (2^b + 1 uint32, in memory) gives each bucket's range
in `keys` (uint32) and `checks` (uint16), both sorted by (key, check): a lookup reads two offsets,
bisects a few hundred keys at most and compares a check. 6 bytes an entry: 6.7 million names take
40 MB; a Python `set` of the same names takes about 20 times as much.

False positives. A name not in the list matches when its hash agrees with an entry's in all b + 48
kept bits: about n / 2^(b+48) per probe, at most 2^17 / 2^56 ≈ 2e-12 with 256 buckets and
n / 2^64 (4e-13 for 6.7 million entries) with 65,536. A `match()` on a 5-label name makes at most
8 probes: well under one wrong match per 10^11 distinct names looked up. As the hash is keyed
(below), nobody can pick a name that collides on purpose. Two entries that collide count as one.

Why Python's salted `hash()`: it is SipHash-1-3 keyed with a random per-process secret, computed
in C and cached on the str, so the front end's query name costs nothing to hash twice and a list of
a million names hashes in well under 0.1 s (blake2b would take 0.3 s more per million). The salt
means the tables are only valid in the process that built them and its forks (which share the
secret); they are never written anywhere another process could read, and a `DomainSet` cannot be
pickled (its tables are memory maps). 64-bit platforms only (`sys.hash_info.width`).

Memory, and refreshing without doubling it. `load()` never holds the list's names as Python objects:
the file is read in blocks of 256 KiB, the block parser (`ListParser`) hands over each block's
names, and their hashes are staged by top byte and spooled, 2 MiB at a time, into runs in an
unlinked temporary file. Then the hashes of each top byte (1/256 of the list) are read back,
sorted, deduplicated and written as keys and checks into a second unlinked temporary file, which
the set maps read-only (shared, lazily). The tables are therefore page cache, not anonymous memory:
building a new set while the old one keeps serving costs only the build's transient anonymous
memory (about 10 MB for 6.7 million names), not a second copy of the set. The new set's pages sit
in the page cache (written, not mapped) until lookups touch them; the old set's pages go when it is
dropped. Under memory pressure the kernel can evict clean table pages (lookups then read them back
from disk) instead of killing the process. The files go to the temporary directory (`TMPDIR`, else
/tmp), which should be on disk: on a tmpfs they are shared memory that cannot be evicted (still not
doubled). Figures: bench/bench_matcher.py.
"""

from __future__ import annotations

import mmap
import os
import sys
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, islice, repeat
from operator import add, and_, ne, rshift
from pathlib import Path
from typing import BinaryIO

from simpul.filtering.lists import Kind, ListParser, ListReport, normalize, read_blocks

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1
_STAGE_MAX = 1 << 18  # hashes kept in memory (2 MiB) before spooling them to the run file
_SMALL = 1 << 17  # up to this many entries a table has 256 buckets, above it 65,536


@dataclass(frozen=True)
class Match:
    """Which list entry matched a name."""

    entry: str  # as a person would write it: "youtube.com", "*.youtube.com", "=youtube.com"
    kind: Kind


class _Table:
    """The sorted hashes of one kind's entries (see the module docstring for the layout)."""

    __slots__ = ("checks", "cshift", "keys", "kshift", "offsets", "shift")

    def __init__(
        self, bits: int, offsets: array[int], keys: Sequence[int], checks: Sequence[int]
    ) -> None:
        self.shift = 64 - bits
        self.kshift = self.shift - 32
        self.cshift = self.shift - 48
        self.offsets = offsets
        self.keys = keys
        self.checks = checks

    def __len__(self) -> int:
        return len(self.keys)

    def has(self, h: int) -> bool:
        """Whether the table holds hash `h` (a `hash()` value)."""
        v = h & _M64
        offsets = self.offsets
        bucket = v >> self.shift
        lo = offsets[bucket]
        hi = offsets[bucket + 1]
        if lo == hi:
            return False
        keys = self.keys
        key = (v >> self.kshift) & _M32
        i = bisect_left(keys, key, lo, hi)
        check = (v >> self.cshift) & 0xFFFF
        while i < hi and keys[i] == key:
            if self.checks[i] == check:
                return True
            i += 1
        return False


class _KindBuilder:
    """Collects one kind's hashes (spooled to `runs` by top byte) and writes its table."""

    def __init__(self, runs: _RunFile) -> None:
        self.total = 0  # hashes added, duplicates included
        self.unique = 0
        self._runs = runs
        self._stage = [array("Q") for _ in range(256)]
        self._staged = 0
        self._spooled: list[list[tuple[int, int]]] = [[] for _ in range(256)]  # (offset, count)

    def add(self, hashes: Iterable[int], count: int) -> None:
        stage = self._stage
        for v in map(and_, hashes, repeat(_M64)):
            stage[v >> 56].append(v)
        self.total += count
        self._staged += count
        if self._staged >= _STAGE_MAX:
            for top, part in enumerate(stage):
                if part:
                    self._spooled[top].append((self._runs.write(part), len(part)))
                    stage[top] = array("Q")
            self._staged = 0

    def write_table(self, fd: int, keys_at: int, checks_at: int) -> tuple[int, array[int]]:
        """Write this kind's keys and checks into file `fd` at the given offsets, which leave room
        for `total` entries (duplicates leave a hole); (bucket bits, offsets)."""
        bits = 16 if self.total > _SMALL else 8
        shift = 64 - bits
        per_top = 1 << (bits - 8)  # buckets per top byte
        offsets = array("I")
        base = 0
        for top in range(256):
            part = self._stage[top]
            self._stage[top] = array("Q")
            for offset, count in self._spooled[top]:
                part.frombytes(self._runs.read(offset, count * 8))
            self._spooled[top] = []
            values = sorted(part)
            del part
            values = list(compress(values, map(ne, values, [*values[1:], -1])))  # dedup
            starts = ((top * per_top + j) << shift for j in range(per_top))
            offsets.extend(map(add, map(bisect_left, repeat(values), starts), repeat(base)))
            keys, checks = _split(values, bits)
            os.pwrite(fd, keys, keys_at + 4 * base)
            os.pwrite(fd, checks, checks_at + 2 * base)
            base += len(values)
        offsets.append(base)
        self.unique = base
        return bits, offsets


def _split(values: list[int], bits: int) -> tuple[bytearray | array[int], bytearray | array[int]]:
    """The uint32 keys and uint16 checks of 64-bit `values` with `bits` bucket bits (8 or 16)."""
    if sys.byteorder != "little":
        shift = 64 - bits
        keys = array("I", map(and_, map(rshift, values, repeat(shift - 32)), repeat(_M32)))
        return keys, array("H", map(and_, map(rshift, values, repeat(shift - 48)), repeat(0xFFFF)))
    # Little-endian uint64 bytes, lowest first: the check is bytes 0-1 (16 bucket bits) or 1-2
    # (8), the key the four bytes above it. Copying byte columns is much faster than shifting.
    raw = array("Q", values).tobytes()
    low = 2 - bits // 8  # the check's first byte
    keys = bytearray(4 * len(values))
    checks = bytearray(2 * len(values))
    for i in range(2):
        checks[i::2] = raw[low + i :: 8]
    for i in range(4):
        keys[i::4] = raw[low + 2 + i :: 8]
    return keys, checks


class _RunFile:
    """An unlinked temporary file the builders spool hashes to; created on first use."""

    def __init__(self) -> None:
        self._file: BinaryIO | None = None
        self._end = 0
        self._dirty = False

    def write(self, part: array[int]) -> int:
        """Append `part`; the offset it was written at."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="simpul-runs-")  # noqa: SIM115 (closed by close)
        offset = self._end
        self._file.write(part)
        self._end += len(part) * part.itemsize
        self._dirty = True
        return offset

    def read(self, offset: int, size: int) -> bytes:
        """`size` bytes written at `offset`."""
        assert self._file is not None
        if self._dirty:
            self._file.flush()
            self._dirty = False
        return os.pread(self._file.fileno(), size, offset)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _Builder:
    """Builds a DomainSet from batches of names."""

    def __init__(self) -> None:
        if sys.hash_info.width < 64:
            raise RuntimeError("DomainSet needs 64-bit str hashes (a 64-bit Python)")
        self._runs = _RunFile()
        self._kinds = {kind: _KindBuilder(self._runs) for kind in Kind}

    @property
    def total(self) -> int:
        """Names added, duplicates included."""
        return sum(b.total for b in self._kinds.values())

    def add(self, names: list[str], kind: Kind) -> None:
        self._kinds[kind].add(map(hash, names), len(names))

    def build(self) -> DomainSet:
        """The set of everything added; the builder is done afterwards."""
        try:
            return self._build()
        finally:
            self.close()

    def close(self) -> None:
        """Drop the spooled runs (also when giving up)."""
        self._runs.close()

    def _build(self) -> DomainSet:
        used = [(kind, b) for kind, b in self._kinds.items() if b.total]
        if not used:
            return DomainSet({}, None)
        placed = {}
        end = 0
        with tempfile.TemporaryFile(prefix="simpul-domains-") as out:
            for kind, builder in used:
                keys_at = end
                checks_at = keys_at + 4 * builder.total
                end = checks_at + 2 * builder.total
                end += -end % 8
                bits, offsets = builder.write_table(out.fileno(), keys_at, checks_at)
                placed[kind] = (bits, offsets, keys_at, checks_at)
            os.ftruncate(out.fileno(), end)  # the last hole, if any
            mapped = mmap.mmap(out.fileno(), end, mmap.MAP_SHARED, mmap.PROT_READ)
        mapped.madvise(mmap.MADV_RANDOM)  # lookups jump around: no read-ahead if pages were evicted
        view = memoryview(mapped)
        tables = {}
        for kind, builder in used:
            bits, offsets, keys_at, checks_at = placed[kind]
            n = builder.unique
            keys = view[keys_at : keys_at + 4 * n].cast("I")
            checks = view[checks_at : checks_at + 2 * n].cast("H")
            tables[kind] = _Table(bits, offsets, keys, checks)
        return DomainSet(tables, view)


class DomainSet:
    """A read-only set of list entries (names with a Kind), matched against query names."""

    __slots__ = ("_exact", "_len", "_nbytes", "_subdomains", "_subtree", "_view")

    def __init__(self, tables: dict[Kind, _Table], view: memoryview | None) -> None:
        """Use `from_entries` or `load`."""
        self._exact = tables.get(Kind.EXACT)
        self._subtree = tables.get(Kind.SUBTREE)
        self._subdomains = tables.get(Kind.SUBDOMAINS)
        self._view = view  # keeps the mapping alive
        self._len = sum(len(t) for t in tables.values())
        self._nbytes = sum(6 * len(t) + 4 * len(t.offsets) for t in tables.values())

    @classmethod
    def from_entries(cls, entries: Iterable[tuple[str, Kind]]) -> DomainSet:
        """A set of (name, kind) entries; names are normalized (ValueError if not host names)."""
        builder = _Builder()
        try:
            it = iter(entries)
            while chunk := list(islice(it, 1 << 16)):
                by_kind: dict[Kind, list[str]] = {}
                for name, kind in chunk:
                    clean = normalize(name)
                    if clean is None:
                        raise ValueError(f"not a host name: {name!r}")
                    by_kind.setdefault(Kind(kind), []).append(clean)
                for kind, names in by_kind.items():
                    builder.add(names, kind)
        except BaseException:
            builder.close()
            raise
        return builder.build()

    @classmethod
    def load(
        cls, path: str | Path, fmt: str = "auto", *, default_kind: Kind = Kind.SUBTREE
    ) -> tuple[DomainSet, ListReport]:
        """Read a list file (see `simpul.filtering.lists`) into a set, with the reading's report.

        Streams the file: names are never all held as str objects. Raises ListError when the file
        cannot be read at all; bad lines are only counted in the report.
        """
        parser = ListParser(fmt, default_kind=default_kind, source=str(path))
        builder = _Builder()
        try:
            for block in read_blocks(path):
                for names, kind in parser.feed(block):
                    builder.add(names, kind)
            parser.finish()
        except BaseException:
            builder.close()
            raise
        total = builder.total
        names = builder.build()
        report = parser.report
        report.entries = len(names)
        report.duplicates = total - len(names)
        return names, report

    def match(self, name: str) -> Match | None:
        """The entry matching query `name`, or None.

        The name itself first (an exact entry, then a subtree one), then each enclosing name from
        the most specific one: a subtree entry, then a strict-subdomains one ("*.x.com" matches
        "a.x.com", never "x.com"). `name` should be lowercase without the trailing dot; other case
        and one trailing dot are accepted too (DNS names on the wire come in any case).
        """
        if name[-1:] == ".":
            name = name[:-1]
        if not name.islower():
            name = name.lower()
        exact, subtree, subdomains = self._exact, self._subtree, self._subdomains
        h = hash(name)
        if exact is not None and exact.has(h):
            return Match(f"={name}", Kind.EXACT)
        if subtree is not None and subtree.has(h):
            return Match(name, Kind.SUBTREE)
        if subtree is None and subdomains is None:
            return None
        dot = name.find(".")
        while dot >= 0:
            next_dot = name.find(".", dot + 1)
            if next_dot < 0:
                break  # a single label left: never an entry
            suffix = name[dot + 1 :]
            h = hash(suffix)
            if subtree is not None and subtree.has(h):
                return Match(suffix, Kind.SUBTREE)
            if subdomains is not None and subdomains.has(h):
                return Match(f"*.{suffix}", Kind.SUBDOMAINS)
            dot = next_dot
        return None

    def __contains__(self, name: str) -> bool:
        """Whether `match(name)` finds an entry."""
        return self.match(name) is not None

    def __len__(self) -> int:
        """Entries, duplicates counted once (an exact and a subtree entry for a name are two)."""
        return self._len

    @property
    def nbytes(self) -> int:
        """Bytes of the tables: keys and checks (mapped file pages) and offsets (in memory)."""
        return self._nbytes

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError(
            "a DomainSet is only valid in the process that built it (salted hashes, a private "
            "memory map): load the list again instead of pickling it"
        )

    def __repr__(self) -> str:
        return f"<DomainSet {self._len:,} entries, {self._nbytes:,} bytes>"
