"""Category lists: reading plain, hosts, adblock, dnsmasq and RPZ files into (name, Kind) entries.

Lists are taken as admins find them: comments, headers, blank lines, duplicates, uppercase names and
the odd broken line. Nothing but an unreadable file is fatal; every skipped line is counted in a
`ListReport` (ignored: comments, headers, zone bookkeeping; bad: with the line number and a reason).

Formats (`FORMATS`; "auto" picks one with `detect_format`):

- plain: one name per line; `*.name` means strict subdomains, `=name` the name only, anything else
  the caller's `default_kind`. Inline `# comments` are allowed.
- hosts: `0.0.0.0 name [name…]` (any IPv4/IPv6 address); localhost-type names are ignored.
- adblock: `||name^` (a subtree); `!` and `#` comments and `[Adblock …]` headers are ignored; rules
  with `$options`, `@@` exceptions, cosmetic `##` rules and URL patterns are bad lines.
- dnsmasq: `server=/a/b/…`, `address=/a/…`, `local=/a/` (subtrees).
- rpz: a response policy zone (TrustPositif style): `name CNAME .` is the name only,
  `*.name CNAME .` strict subdomains; any other action (NXDOMAIN, NODATA, drop, a walled-garden
  CNAME or address) is a block too, `rpz-passthru.` (allow) is a bad line. `$TTL`, `$ORIGIN`, SOA
  (also over several lines in parentheses) and NS records are ignored; owners may be relative or
  absolute.

Speed. A national list (TrustPositif: 6.7 million names) must load in seconds, so ordinary lines
never reach per-line Python code. `ListParser` learns the shape of the list's lines from the first
one it parses line by line, as a prefix and a suffix around the name (`("0.0.0.0 ", "")`,
`("||", "^")`, `("", " cname .")`), and accepts a whole block of lines of that shape at once with
C-level string operations (split, startswith/endswith counts, a character-set regex, substring
tests for bad label boundaries). A block with any other line is halved until the odd lines are
alone; those go through the per-line parser, which is the reference: a shape is only learned after a
probe line of that shape parses to the expected entry, and the block checks accept exactly the names
`normalize` accepts (tests compare both paths line for line).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress, islice, repeat
from operator import contains, itemgetter, not_
from pathlib import Path

FORMATS = ("auto", "plain", "hosts", "adblock", "dnsmasq", "rpz")
MAX_BAD_SAMPLES = 20
BLOCK_CHARS = 1 << 18  # characters read per block by `read_blocks`


class Kind(enum.IntEnum):
    """What a list entry covers."""

    EXACT = 1  # the name only
    SUBTREE = 2  # the name and every subdomain
    SUBDOMAINS = 3  # strict subdomains only (a wildcard "*.name")


class ListError(ValueError):
    """The list cannot be read at all (missing, unreadable, not text, unknown format)."""


@dataclass(frozen=True)
class BadLine:
    """A line that was skipped because it is wrong (not merely a comment)."""

    number: int  # 1-based line number
    text: str  # the line, cut to 200 chars
    reason: str  # e.g. "not a host name", "adblock rule with options is not a name rule"


@dataclass
class ListReport:
    """What reading one list found."""

    source: str
    format: str  # the format used (the detected one for "auto")
    lines: int = 0
    entries: int = 0  # names accepted (after duplicates)
    duplicates: int = 0
    ignored: int = 0  # blank, comments, headers, RPZ SOA/NS/$TTL, "localhost"-type hosts lines
    bad: int = 0
    bad_samples: list[BadLine] = field(default_factory=list)  # at most MAX_BAD_SAMPLES

    def summary(self) -> str:
        """One line: "youtube.txt (hosts): 24,280 names, 12 ignored, 3 bad lines (line 40: …)"."""
        parts = [_count(self.entries, "name")]
        if self.duplicates:
            parts.append(_count(self.duplicates, "duplicate"))
        if self.ignored:
            parts.append(f"{self.ignored:,} ignored")
        if self.bad:
            first = self.bad_samples[0]
            parts.append(
                f"{_count(self.bad, 'bad line')} (line {first.number}: {first.reason}: "
                f"{first.text!r})"
            )
        return f"{self.source} ({self.format}): " + ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


# A label: 1-63 of [a-z0-9_-], not starting or ending with '-'. A name has at least two labels and
# its last label is not all digits (that would be an IPv4 address, never a DNS name in a list).
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME_RE = re.compile(rf"(?:{_LABEL}\.)+(?![0-9]+$){_LABEL}")
_BAD_CHAR = re.compile(r"[^a-z0-9_.-]")
_NAMES_TEXT = re.compile(r"[a-z0-9_.\n-]+")  # names joined by newlines, nothing else
_NUMERIC_LAST_LABEL = re.compile(r"\.[0-9]+$", re.MULTILINE)


def normalize(name: str) -> str | None:
    """`name` lowercased without one trailing dot; None if it is not a host name for a list.

    A host name here has labels of 1-63 characters from [a-z0-9_-] not starting or ending with '-',
    at most 253 characters, at least two labels (single-label names such as "localhost" are not list
    entries) and a last label that is not all digits. Unicode names must be given as punycode.
    """
    if not name.isascii():
        return None
    name = name.lower()
    if name.endswith("."):
        name = name[:-1]
    if len(name) > 253 or _NAME_RE.fullmatch(name) is None:
        return None
    return name


def _name_problem(token: str) -> str:
    """Why `token` is not a host name (for a bad line's reason)."""
    if "\ufffd" in token:
        return "not valid UTF-8"
    if not token.isascii():
        return "not a host name (use punycode: xn--…)"
    name = token.lower().removesuffix(".")
    detail = "invalid"
    if not name:
        detail = "empty"
    elif len(name) > 253:
        detail = "longer than 253 characters"
    elif bad := _BAD_CHAR.search(name):
        detail = f"character {bad.group()!r}"
    elif "." not in name:
        detail = "a single label"
    else:
        labels = name.split(".")
        for label in labels:
            if not label:
                detail = "empty label"
            elif len(label) > 63:
                detail = "label longer than 63 characters"
            elif label[0] == "-" or label[-1] == "-":
                detail = "label starts or ends with '-'"
            else:
                continue
            break
        else:
            if all(label.isdigit() for label in labels):
                detail = "an IP address"
            elif labels[-1].isdigit():
                detail = "numeric last label"
    return f"not a host name ({detail})"


def _names_ok(names: list[str], text: str) -> bool:
    """Whether every name passes `normalize` unchanged; `text` is "\\n".join(names)."""
    if _NAMES_TEXT.fullmatch(text) is None:  # also: no empty list, no empty text
        return False
    dotted = text.replace("\n", ".")
    if dotted[0] in ".-" or dotted[-1] in ".-":
        return False
    # Empty labels or names, and labels starting or ending with '-', show up as "..", ".-" or
    # "-.". One scan with '-' as '.' finds all three (and "--", hence the exact scans after it).
    if ".." in dotted.replace("-", ".") and (".." in dotted or ".-" in dotted or "-." in dotted):
        return False
    if not all(map(contains, names, repeat("."))) or _NUMERIC_LAST_LABEL.search(text):
        return False
    longest = max(map(len, names))
    if longest > 253:
        return False
    return longest <= 63 or all(
        len(label) <= 63 for name in names if len(name) > 63 for label in name.split(".")
    )


_IGNORED_HOSTS = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "0.0.0.0",
    }
)
_RPZ_SPECIAL_TRIGGERS = ("rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip")
_RR_TYPES = frozenset({"cname", "a", "aaaa", "txt", "soa", "ns", "dname", "mx", "ptr", "srv"})
_CLASSES = frozenset({"in", "ch", "hs", "any"})
_TTL = re.compile(r"[0-9]+[smhdw0-9]*", re.IGNORECASE)
_COSMETIC = ("##", "#@#", "#?#", "#$#", "#%#")
_DNSMASQ_KEYS = ("server", "address", "local")
_PROBE = "x-probe.example"  # a name used to check a learned line shape


def _split_marked(
    tokens: list[str], mark: str, kind: Kind, marked_kind: Kind
) -> list[tuple[list[str], Kind]]:
    """`tokens` as two groups: those without `mark` (of `kind`), those with it removed."""
    marked = list(map(str.startswith, tokens, repeat(mark)))
    cut = len(mark)
    return [
        (list(compress(tokens, map(not_, marked))), kind),
        ([token[cut:] for token in compress(tokens, marked)], marked_kind),
    ]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def detect_format(sample_lines: Sequence[str]) -> str:
    """The format ("plain", "hosts", "adblock", "dnsmasq" or "rpz") most sample lines have.

    Comment and blank lines do not count, except that an `[Adblock …]` header decides for adblock
    and `!` or `;` comments tip an otherwise empty sample towards adblock or rpz. No evidence:
    "plain".
    """
    votes = dict.fromkeys(("plain", "hosts", "adblock", "dnsmasq", "rpz"), 0.0)
    for line in sample_lines:
        s = line.strip()
        if not s:
            continue
        low = s.lower()
        if s[0] == "[" and "adblock" in low:
            votes["adblock"] += 1000
        elif s[0] == "!":
            votes["adblock"] += 0.01
        elif s[0] == ";":
            votes["rpz"] += 0.01
        elif s.startswith(("||", "@@", "|")) or any(c in s for c in _COSMETIC):
            votes["adblock"] += 1
        elif s[0] == "#":
            continue
        elif low.startswith(tuple(f"{key}=/" for key in _DNSMASQ_KEYS)):
            votes["dnsmasq"] += 1
        elif s[0] == "$":
            votes["rpz"] += 1
        else:
            tokens = low.split()
            if _is_ip(tokens[0]):
                votes["hosts"] += 1
            elif any(t in _RR_TYPES for t in tokens[1:4]):
                votes["rpz"] += 1
            else:
                votes["plain"] += 1
    best = max(votes, key=votes.__getitem__)  # first of the ties: plain
    return best if votes[best] > 0 else "plain"


# Names of one kind from a block of lines, in file order.
Batch = tuple[list[str], Kind]
# One line parsed by hand: its entries, the reason it is bad (or None) and, for a line with exactly
# one name, that name's token as written (for learning the line shape).
_Parsed = tuple[list[tuple[str, Kind]], str | None, str | None]


class ListParser:
    """An incremental parser for one list: feed it blocks of lines, get batches of entries.

    Entries are not deduplicated (the caller does that its own way); `report` counts lines,
    ignored and bad lines as they are fed. `fast=False` parses every line by hand (for tests).
    """

    _LEAF = 48  # a block of at most this many lines is parsed line by line when not uniform

    def __init__(
        self,
        fmt: str = "auto",
        *,
        default_kind: Kind = Kind.SUBTREE,
        source: str = "<list>",
        fast: bool = True,
    ) -> None:
        if fmt not in FORMATS:
            raise ListError(f"{source}: unknown list format {fmt!r} (known: {', '.join(FORMATS)})")
        self.report = ListReport(source=source, format=fmt)
        self._default = Kind(default_kind)
        self._fast = fast
        self._fmt = ""
        self._lineno = 0  # lines fed before the current block
        self._affix: tuple[str, str] | None = None  # the learned line shape around a name
        # RPZ zone state
        self._origin = ""  # $ORIGIN, lowercase, without the trailing dot
        self._owner: str | None = None  # the last owner name, for lines that leave it out
        self._depth = 0  # open parentheses (an SOA record over several lines)
        self._depth_line = 0  # where they opened
        self._at = 0  # the number of the line being parsed by hand
        if fmt != "auto":
            self._set_format(fmt)

    def _set_format(self, fmt: str) -> None:
        self._fmt = self.report.format = fmt
        base = {"adblock": Kind.SUBTREE, "dnsmasq": Kind.SUBTREE, "rpz": Kind.EXACT}
        self._base = base.get(fmt, self._default)
        self._stars = fmt in ("plain", "dnsmasq", "rpz")  # "*.name" allowed
        self._equals = fmt == "plain"  # "=name" allowed
        self._line_method = f"_{fmt}"  # a method name: a bound method would make a cycle

    def _line(self, line: str) -> _Parsed:
        return getattr(self, self._line_method)(line)

    def feed(self, text: str) -> list[Batch]:
        """Parse complete lines, joined by "\\n" (without a final newline); their entries."""
        if not self._lineno:
            text = text.removeprefix("\ufeff")
        if not self._fmt:
            self._set_format(detect_format(text.split("\n", 2000)[:2000]))
        out: list[Batch] = []
        n = text.count("\n") + 1
        low_text = text.lower() if text.isascii() else ""
        if not (low_text and self._take(low_text, n, out)):
            raw = text.split("\n")
            if low_text:
                low = low_text.split("\n")
            else:  # lowercasing some non-ASCII characters gives ASCII: keep those lines apart
                low = [line.lower() if line.isascii() else "\x00" for line in raw]
            self._split_block(raw, low, 0, n, out)
        self._lineno += n
        self.report.lines += n
        return out

    def finish(self) -> None:
        """Call after the last block: reports an RPZ record left open."""
        if not self._fmt:  # nothing was fed
            self._set_format(detect_format([]))
        if self._depth > 0:
            self._bad(self._depth_line, "(", "'(' without ')' before the end of the zone")
            self._depth = 0

    def _split_block(
        self, raw: list[str], low: list[str], lo: int, hi: int, out: list[Batch]
    ) -> None:
        if hi - lo > self._LEAF:
            mid = (lo + hi) // 2
            for a, b in ((lo, mid), (mid, hi)):
                if not self._take("\n".join(low[a:b]), b - a, out):
                    self._split_block(raw, low, a, b, out)
            return
        run: Batch = ([], self._base)  # names of one kind in a row, to keep the file's order
        for i in range(lo, hi):
            line = raw[i]
            self._at = self._lineno + i + 1
            entries, reason, token = self._line(line)
            for name, kind in entries:
                if kind != run[1]:
                    if run[0]:
                        out.append(run)
                    run = ([], kind)
                run[0].append(name)
            if reason:
                self._bad(self._at, line, reason)
            elif not entries:
                self.report.ignored += 1
            elif token is not None and len(entries) == 1 and self._fast:
                self._learn(low[i], token.lower())
        if run[0]:
            out.append(run)

    def _bad(self, number: int, line: str, reason: str) -> None:
        self.report.bad += 1
        if len(self.report.bad_samples) < MAX_BAD_SAMPLES:
            self.report.bad_samples.append(BadLine(number, line.strip()[:200], reason))

    # The fast path

    def _learn(self, low_line: str, token: str) -> None:
        """Remember the shape of a line whose only name is `token`, if a probe confirms it."""
        at = low_line.find(token)
        if at < 0:
            return
        affix = (low_line[:at], low_line[at + len(token) :])
        if affix == self._affix or "(" in affix[1] or ")" in affix[1]:
            return  # known already, or it would open a multi-line record
        prefix, suffix = affix
        probes = [(_PROBE, self._base)]
        if self._stars:
            probes.append((f"*.{_PROBE}", Kind.SUBDOMAINS))
        if self._equals:
            probes.append((f"={_PROBE}", Kind.EXACT))
        state = (self._origin, self._owner, self._depth)
        try:
            if all(
                self._line(prefix + probe + suffix)[:2] == ([(_PROBE, kind)], None)
                for probe, kind in probes
            ):
                self._affix = affix
        finally:
            self._origin, self._owner, self._depth = state

    def _take(self, text: str, n: int, out: list[Batch]) -> bool:
        """Take all `n` lines of lowercase `text` at once if all have the learned shape.

        Whether it did. Every line must start with the prefix (the first line, and n - 1 times
        after a newline) and end with the suffix (likewise); a line too short for both becomes an
        empty name, which is refused.
        """
        if self._affix is None or self._depth or not self._fast:
            return False
        prefix, suffix = self._affix
        if prefix and (not text.startswith(prefix) or text.count("\n" + prefix) != n - 1):
            return False
        if suffix and (not text.endswith(suffix) or text.count(suffix + "\n") != n - 1):
            return False
        tokens = text.split("\n")
        if prefix or suffix:
            tokens = list(map(itemgetter(slice(len(prefix), -len(suffix) or None)), tokens))
            text = "\n".join(tokens)
        groups = [(tokens, self._base)]
        if self._stars and "*" in text:
            groups = _split_marked(tokens, "*.", self._base, Kind.SUBDOMAINS)
        if self._equals and "=" in text:
            groups[:1] = _split_marked(groups[0][0], "=", self._base, Kind.EXACT)
        for names, _ in groups:
            joined = text if len(groups) == 1 else "\n".join(names)
            if names and not _names_ok(names, joined):
                return False
            if (self._fmt == "hosts" and "localhost" in joined) or (
                self._fmt == "rpz" and "rpz-" in joined
            ):
                return False  # names the line parser treats specially
        if self._fmt == "rpz":
            self._owner = tokens[-1]
        out.extend(group for group in groups if group[0])
        return True

    # The line parsers (the reference)

    def _mark(self, token: str) -> tuple[Kind, str]:
        if self._stars and token.startswith("*."):
            return Kind.SUBDOMAINS, token[2:]
        if self._equals and token.startswith("="):
            return Kind.EXACT, token[1:]
        return self._base, token

    def _entry(self, token: str) -> tuple[tuple[str, Kind] | None, str | None]:
        kind, bare = self._mark(token)
        name = normalize(bare)
        if name is None:
            return None, _name_problem(bare)
        return (name, kind), None

    def _plain(self, line: str) -> _Parsed:
        s = line.strip()
        if not s or s[0] == "#":
            return [], None, None
        tokens = s.split("#", 1)[0].split() if "#" in s else s.split()
        if len(tokens) > 1:
            return [], "more than one field on the line (a hosts file?)", None
        entry, reason = self._entry(tokens[0])
        return ([entry] if entry else []), reason, tokens[0]

    def _hosts(self, line: str) -> _Parsed:
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            return [], None, None
        if not _is_ip(tokens[0]):
            return [], "hosts line does not start with an IP address", None
        if len(tokens) == 1:
            return [], "hosts line without a name", None
        entries, reason = [], None
        for token in tokens[1:]:
            if token.lower().removesuffix(".") in _IGNORED_HOSTS:
                continue
            entry, problem = self._entry(token)
            if entry:
                entries.append(entry)
            else:
                reason = reason or problem
        return entries, reason, (tokens[1] if len(tokens) == 2 else None)

    def _adblock(self, line: str) -> _Parsed:
        s = line.strip()
        if not s or s[0] == "!" or (s[0] == "[" and s[-1] == "]"):
            return [], None, None
        if any(c in s for c in _COSMETIC):
            return [], "adblock cosmetic rule (##) is not a name rule", None
        if s[0] == "#":
            return [], None, None
        if s.startswith("@@"):
            return [], "adblock exception (@@) rules are not block entries", None
        if s.startswith("||") and "$" in s:
            return [], "adblock rule with options is not a name rule", None
        if not (s.startswith("||") and s.endswith("^")):
            return [], "adblock rule is not a ||name^ rule", None
        token = s[2:-1]
        entry, reason = self._entry(token)
        return ([entry] if entry else []), reason, token

    def _dnsmasq(self, line: str) -> _Parsed:
        s = line.strip()
        if not s or s[0] == "#":
            return [], None, None
        key, _, rest = s.partition("=")
        if key.strip().lower() not in _DNSMASQ_KEYS or not rest.startswith("/"):
            return [], "dnsmasq line is not server=/…/, address=/…/ or local=/…/", None
        tokens = rest[1:].split("/")[:-1]
        if not tokens:
            return [], "dnsmasq rule without a closing '/'", None
        entries, reason = [], None
        for token in tokens:
            entry, problem = self._entry(token)
            if entry:
                entries.append(entry)
            else:
                reason = reason or problem
        return entries, reason, (tokens[0] if len(tokens) == 1 else None)

    def _rpz(self, line: str) -> _Parsed:
        s = line.split(";", 1)[0]
        if self._depth:  # inside a parenthesised (SOA) record
            self._depth = max(0, self._depth + s.count("(") - s.count(")"))
            return [], None, None
        if not s.strip() or s.lstrip()[0] == "#":
            return [], None, None
        if "(" in s:
            self._depth = max(0, s.count("(") - s.count(")"))
            self._depth_line = self._at
        if s[0] == "$":
            return self._rpz_directive(s.split())
        tokens = s.split()
        if s[0] in " \t":
            owner, token = self._owner, None
        else:
            owner = token = tokens.pop(0)
            self._owner = owner
        while tokens and (tokens[0].lower() in _CLASSES or _TTL.fullmatch(tokens[0])):
            tokens.pop(0)
        if not tokens:
            return [], "RPZ line without a record type", None
        rtype = tokens[0].lower()
        if rtype in ("soa", "ns"):
            return [], None, None
        if owner is None or owner == "@":
            return [], "record at the zone apex is not a name entry", None
        target = tokens[1].lower() if len(tokens) > 1 else ""
        if rtype == "cname" and target.removesuffix(".") == "rpz-passthru":
            return [], "RPZ passthru (allow) rules are not block entries", None
        if rtype == "cname" and target.removesuffix(".") == "rpz-tcp-only":
            return [], "RPZ tcp-only rules are not block entries", None
        name = owner.lower()
        if name.endswith("."):  # absolute: strip the zone's origin (or just the dot)
            if self._origin and name == f"{self._origin}.":
                return [], "record at the zone apex is not a name entry", None
            origin = f".{self._origin}."
            name = name[: -len(origin)] if self._origin and name.endswith(origin) else name[:-1]
        if name.rsplit(".", 1)[-1] in _RPZ_SPECIAL_TRIGGERS:
            return [], "RPZ IP/NSDNAME triggers are not name entries", None
        entry, reason = self._entry(name)
        return ([entry] if entry else []), reason, token

    def _rpz_directive(self, tokens: list[str]) -> _Parsed:
        directive = tokens[0].upper()
        if directive == "$ORIGIN" and len(tokens) > 1:
            self._origin = tokens[1].lower().removesuffix(".")
            return [], None, None
        if directive == "$TTL":
            return [], None, None
        return [], f"zone directive {tokens[0]} is not supported", None


def read_blocks(path: str | Path, block_chars: int = BLOCK_CHARS) -> Iterator[str]:
    """The text of a list file in blocks of whole lines joined by "\\n" (no final newline).

    UTF-8 with an optional BOM; undecodable bytes become U+FFFD (their lines are reported as bad);
    any newline convention. Raises ListError for a missing or unreadable file and for a binary one.
    """
    try:
        f = open(path, encoding="utf-8-sig", errors="replace", newline=None)  # noqa: SIM115
    except OSError as e:
        raise ListError(f"{path}: cannot read: {e.strerror or e}") from e
    with f:
        carry = ""
        while True:
            try:
                chunk = f.read(block_chars)
            except OSError as e:
                raise ListError(f"{path}: cannot read: {e.strerror or e}") from e
            if "\x00" in chunk:
                raise ListError(f"{path}: binary file (NUL bytes), not a text list")
            if not chunk:
                break
            cut = chunk.rfind("\n")
            if cut < 0:
                carry += chunk
                if len(carry) > 16 * block_chars:
                    raise ListError(f"{path}: a line longer than {len(carry):,} characters")
                continue
            yield carry + chunk[:cut]
            carry = chunk[cut + 1 :]
        if carry:
            yield carry


def parse(
    lines: Iterable[str],
    fmt: str = "auto",
    *,
    default_kind: Kind = Kind.SUBTREE,
    source: str = "<list>",
) -> tuple[list[tuple[str, Kind]], ListReport]:
    """Entries of a list given as lines (with or without line ends), each once, in file order.

    (In big lists that mix kinds, e.g. names and `*.` wildcards, names come kind by kind within
    each block of lines taken at once.)
    """
    parser = ListParser(fmt, default_kind=default_kind, source=source)
    seen: dict[tuple[str, Kind], None] = {}
    total = 0
    it = iter(lines)
    while batch := list(islice(it, 1 << 16)):
        for names, kind in parser.feed("\n".join(line.rstrip("\r\n") for line in batch)):
            seen.update(dict.fromkeys(zip(names, repeat(kind, len(names)), strict=True)))
            total += len(names)
    parser.finish()
    report = parser.report
    report.entries = len(seen)
    report.duplicates = total - len(seen)
    return list(seen), report


def read(
    path: str | Path, fmt: str = "auto", *, default_kind: Kind = Kind.SUBTREE
) -> tuple[list[tuple[str, Kind]], ListReport]:
    """`parse` a list file (every entry as a str: fine for small lists; see DomainSet.load)."""
    if fmt not in FORMATS:  # before touching the file, like parse
        raise ListError(f"{path}: unknown list format {fmt!r} (known: {', '.join(FORMATS)})")
    return parse(_lines(path), fmt, default_kind=default_kind, source=str(path))


def _lines(path: str | Path) -> Iterator[str]:
    for block in read_blocks(path):
        yield from block.split("\n")
