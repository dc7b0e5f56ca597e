"""Address lists (the public resolvers' own addresses, dropped on 443/853): one IPv4 CIDR per
line, `#` comments. `parse_networks` is pure; `doh_networks` reads the shipped file."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network

from simpul.config.model import Filtering

DOH_FILE = "doh-addresses.txt"


class AddressListError(ValueError):
    """An address list with a line that is not an IPv4 network (the text names the line)."""


def parse_networks(lines: Iterable[str], source: str) -> list[IPv4Network]:
    """The networks of an address list; any bad line is an error (these lists are curated, and
    a typo could drop a whole range)."""
    networks = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            networks.append(IPv4Network(text))
        except ValueError:
            raise AddressListError(
                f"{source}, line {number}: {text!r} is not an IPv4 network such as 9.9.9.9/32"
            ) from None
    return networks


def doh_networks(filtering: Filtering) -> list[IPv4Network]:
    """The shipped public-resolver addresses (if the file is there) plus the configuration's."""
    path = filtering.lists_path / DOH_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise AddressListError(f"{path}: cannot read: {exc}") from None
    return parse_networks(text.splitlines(), str(path)) + list(filtering.doh_addresses)
