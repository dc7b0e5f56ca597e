"""The `simpul` command: configuration, apply, clients, usage, backup, console users and the
lab."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from simpul import __version__
from simpul.config import ConfigError, dump_config_yaml, load_config_file

console = Console()
err = Console(stderr=True)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEFAULT_DB = "/var/lib/simpul/simpul.db"
DEFAULT_SOCKET = "/run/simpul/netd.sock"
LAB_PREFIX = "sp-"


def _lab_paths() -> Any:
    from simpul.lab.runner import LabPaths

    return LabPaths.for_prefix(os.environ.get("SIMPUL_LAB_PREFIX", LAB_PREFIX))


def default_db() -> str:
    """$SIMPUL_DB, else the node's database, else the running lab's."""
    if "SIMPUL_DB" in os.environ:
        return os.environ["SIMPUL_DB"]
    lab = _lab_paths().db
    return str(lab) if not os.path.exists(DEFAULT_DB) and lab.exists() else DEFAULT_DB


def default_socket() -> str:
    """$SIMPUL_SOCKET, else the node's netd socket, else the running lab's."""
    if "SIMPUL_SOCKET" in os.environ:
        return os.environ["SIMPUL_SOCKET"]
    lab = _lab_paths().socket
    return str(lab) if not os.path.exists(DEFAULT_SOCKET) and lab.exists() else DEFAULT_SOCKET


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(code)


def _load(path: str) -> Any:
    try:
        return load_config_file(path)
    except ConfigError as exc:
        err.print(exc.render(), highlight=False)
        sys.exit(2)


def _netd(ctx: click.Context) -> Any:
    from netctl.protocol import NetdClient

    return NetdClient(ctx.obj["socket"])


def _call(ctx: click.Context, api_method: str, **params: Any) -> Any:
    from netctl.protocol import ApiError

    try:
        with _netd(ctx) as client:
            return client.call(api_method, **params)
    except ApiError as exc:
        _fail(f"{exc} ({exc.code})")


@click.group()
@click.version_option(__version__, prog_name="simpul")
@click.option("--db", default=default_db, show_default="node or lab database", help="SQLite store")
@click.option(
    "--socket",
    default=default_socket,
    show_default="node or lab netd socket",
    help="netd's API socket",
)
@click.pass_context
def main(ctx: click.Context, db: str, socket: str) -> None:
    """Simpul: the regency network node (captive portal, OPD interconnect, monitoring)."""
    ctx.obj = {"db": db, "socket": socket}


# -- configuration ---------------------------------------------------------------------------


@main.group()
def config() -> None:
    """Validate, import and export the node's configuration."""


@config.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def config_validate(file: str) -> None:
    """Check FILE; print every problem with its field and line."""
    cfg = _load(file)
    console.print(
        f"[green]valid[/green]: {len(cfg.opds)} OPDs, {len(cfg.hotspot_sites)} hotspot sites, "
        f"{len(cfg.remote_sites)} remote sites, {len(cfg.uplinks)} uplink(s)"
    )


@config.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--replace", is_flag=True, help="also remove objects FILE does not name")
@click.option("--comment", default="", help="why (kept with the revision)")
@click.pass_context
def config_import(ctx: click.Context, file: str, replace: bool, comment: str) -> None:
    """Upsert FILE's objects into the store (idempotent); `simpul apply` makes it live."""
    from simpul.store import Store

    cfg = _load(file)
    try:
        with Store(ctx.obj["db"]) as store:
            result = store.import_config(cfg, actor=_whoami(), replace=replace, comment=comment)
    except ConfigError as exc:
        err.print(exc.render(), highlight=False)
        sys.exit(2)
    if not result.changed:
        console.print("no change: the store already holds this configuration")
        return
    for label, items in (
        ("created", result.created),
        ("updated", result.updated),
        ("removed", result.removed),
    ):
        if items:
            console.print(f"{label}: {', '.join(items)}")
    console.print(f"revision {result.revision}; run 'simpul apply' to make it live")


@config.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="file (default stdout)")
@click.pass_context
def config_export(ctx: click.Context, output: str | None) -> None:
    """Write the stored configuration as YAML."""
    from simpul.store import Store

    with Store(ctx.obj["db"]) as store:
        try:
            text = dump_config_yaml(store.config())
        except LookupError as exc:
            _fail(str(exc))
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("destination", type=click.Path(dir_okay=False))
@click.option(
    "--usage",
    "with_usage",
    is_flag=True,
    help="also copy the usage rollups (usage.db) to DESTINATION's name + '-usage'",
)
@click.pass_context
def backup(ctx: click.Context, destination: str, with_usage: bool) -> None:
    """Write a consistent copy of the live database to DESTINATION."""
    from simpul.sqlite import backup_db
    from simpul.store import Store
    from simpul.usage.db import USAGE_DB

    if not os.path.exists(ctx.obj["db"]):
        _fail(f"no database at {ctx.obj['db']}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(destination))):
        _fail(f"no directory {os.path.dirname(os.path.abspath(destination))} for the backup")
    with Store(ctx.obj["db"]) as store:
        store.backup(destination)
    console.print(f"backup written to {destination}")
    usage = _beside_db(ctx, USAGE_DB)
    if with_usage and os.path.exists(usage):
        stem, ext = os.path.splitext(destination)
        backup_db(usage, f"{stem}-usage{ext or '.db'}")
        console.print(f"usage rollups written to {stem}-usage{ext or '.db'}")


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the store's schema up to this version (upgrades run it before switching)."""
    from simpul.store import MIGRATIONS, Store

    path = ctx.obj["db"]
    if not os.path.exists(path):
        console.print(f"no database at {path} yet: netd makes it at its first start")
        return
    with Store(path) as store:  # opening migrates, in one transaction per step
        applied = store.applied_at_open
    if applied:
        console.print(f"applied migration(s) {', '.join(map(str, applied))} to {path}")
    else:
        console.print(f"schema up to date ({len(MIGRATIONS)} migrations) in {path}")


# -- data plane ------------------------------------------------------------------------------


@main.command()
@click.option("--diff", "show_diff", is_flag=True, help="only show what would change")
@click.option("--check", is_flag=True, help="only have the kernel check the transaction")
@click.pass_context
def apply(ctx: click.Context, show_diff: bool, check: bool) -> None:
    """Render the stored configuration and load it in one atomic transaction."""
    if show_diff:
        result = _call(ctx, "diff")
        click.echo(result["diff"] if result["changed"] else "no change in the ruleset")
        return
    result = _call(ctx, "apply", check_only=check)
    verb = "checked" if check else "applied"
    console.print(
        f"{verb}: {result['chains']} chains, {result['rules']} rules, "
        f"{result['counters']} counters, {result['clients']} authorized clients kept"
    )


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """netd's state: table, clients, helper daemons."""
    click.echo(json.dumps(_call(ctx, "status"), indent=2))


@main.group()
def clients() -> None:
    """Hotspot clients: list, allow, deny."""


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def clients_list(ctx: click.Context, as_json: bool) -> None:
    """Authorized clients with their byte counters."""
    rows = _call(ctx, "clients")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("MAC", "IP", "site", "method", "up bytes", "down bytes", "in kernel")
    for r in rows:
        table.add_row(
            r["mac"],
            r["ip"],
            r["site"] or "",
            r["method"],
            str(r.get("up_bytes", "")),
            str(r.get("down_bytes", "")),
            "yes" if r["in_kernel"] else "NO",
        )
    console.print(table)


@clients.command("allow")
@click.argument("mac")
@click.argument("ip")
@click.option("--minutes", type=int, help="session length (default: the portal's)")
@click.pass_context
def clients_allow(ctx: click.Context, mac: str, ip: str, minutes: int | None) -> None:
    """Authorize MAC . IP (through netd)."""
    result = _call(ctx, "authorize", mac=mac, ip=ip, minutes=minutes, method="cli")
    console.print(f"allowed {result['mac']} {result['ip']} at {result['site']}")


@clients.command("deny")
@click.argument("mac")
@click.argument("ip")
@click.pass_context
def clients_deny(ctx: click.Context, mac: str, ip: str) -> None:
    """End the session of MAC . IP at once (through netd)."""
    result = _call(ctx, "deauthorize", mac=mac, ip=ip, reason="cli")
    console.print("denied" if result["ended"] else "no open session; removed from the kernel")


@main.group("vouchers")
def vouchers_group() -> None:
    """Voucher codes for hotspot sites: generate a batch, print its sheet."""


@vouchers_group.command("generate")
@click.option("--count", type=click.IntRange(1, 5000), required=True)
@click.option(
    "--minutes",
    type=click.IntRange(1, 7 * 24 * 60),
    required=True,
    help="online time from the first use",
)
@click.option("--site", help="only valid at this hotspot site (default: any)")
@click.option("--note", default="", help="what the batch is for")
@click.option("-o", "--sheet", type=click.Path(dir_okay=False), help="write the printable sheet")
@click.pass_context
def vouchers_generate(
    ctx: click.Context, count: int, minutes: int, site: str | None, note: str, sheet: str | None
) -> None:
    """Generate a batch of voucher codes (stored; print them with the sheet)."""
    from simpul.store import Store
    from simpul.vouchers import new_codes

    with Store(ctx.obj["db"]) as store:
        config = store.config()
        if site is not None and site not in {s.slug for s in config.hotspot_sites}:
            _fail(f"no hotspot site {site!r}")
        batch = store.add_voucher_batch(
            new_codes(count), minutes=minutes, site=site, actor=_whoami(), note=note
        )
    console.print(f"batch {batch}: {count} vouchers of {minutes} minutes")
    if sheet:
        _write_sheet(ctx, batch, sheet)


@vouchers_group.command("sheet")
@click.argument("batch", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True)
@click.pass_context
def vouchers_sheet(ctx: click.Context, batch: int, output: str) -> None:
    """Write the printable A4 sheet of a batch (HTML; print it from any browser)."""
    _write_sheet(ctx, batch, output)


def _write_sheet(ctx: click.Context, batch: int, output: str) -> None:
    from simpul.store import Store
    from simpul.vouchers import sheet_html, sheet_info

    with Store(ctx.obj["db"]) as store:
        config = store.config()
        codes = store.voucher_batch(batch)
        if not codes:
            _fail(f"no voucher batch {batch}")
        text = sheet_html(sheet_info(config, batch, codes), [v.code for v in codes])
        Path(output).write_text(text, encoding="utf-8")
    console.print(f"sheet of batch {batch} written to {output}")


def _whoami() -> str:
    import pwd

    return f"{pwd.getpwuid(os.getuid()).pw_name} (cli)"


# -- DNS filtering ---------------------------------------------------------------------------


@main.group("dns")
def dns_group() -> None:
    """The policy DNS front end: explain verdicts, check lists."""


def _filter_config(ctx: click.Context, draft: str | None, lists_dir: str | None) -> Any:
    """The stored configuration (or a draft file), with another lists directory if asked."""
    from simpul.store import Store

    if draft:
        config = _load(draft)
    else:
        with Store(ctx.obj["db"]) as store:
            try:
                config = store.config()
            except LookupError as exc:
                _fail(str(exc))
    if lists_dir:
        filtering = config.filtering.model_copy(update={"lists_dir": lists_dir})
        config = config.model_copy(update={"filtering": filtering})
    return config


@dns_group.command("explain")
@click.argument("name")
@click.option("--opd", help="as asked from this OPD's LAN")
@click.option("--site", help="as asked from this hotspot site")
@click.option("--client", help="as asked by this address")
@click.option("--at", "at", help="when: HH:MM today, 'YYYY-MM-DD HH:MM' or ISO (default now)")
@click.option("--config", "draft", type=click.Path(dir_okay=False), help="a draft config file")
@click.option("--lists-dir", type=click.Path(file_okay=False), help="another lists directory")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
def dns_explain(
    ctx: click.Context, name: str, opd: str | None, site: str | None, client: str | None,
    at: str | None, draft: str | None, lists_dir: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Say the verdict for NAME and its chain: rule, list, category, schedule window."""
    from ipaddress import IPv4Address

    from simpul.filtering.engine import engine_for
    from simpul.filtering.lists import ListError
    from simpul.filtering.policy import explain_lines, group_named, group_of
    from simpul.filtering.schedule import parse_moment

    if sum(x is not None for x in (opd, site, client)) != 1:
        _fail("say who asks: exactly one of --opd, --site or --client")
    config = _filter_config(ctx, draft, lists_dir)
    try:
        if client is not None:
            group = group_of(config, IPv4Address(client))
        else:
            group = group_named(config, "opd" if opd else "hotspot", opd or site or "")
    except KeyError:
        _fail(f"no {'OPD' if opd else 'hotspot site'} {opd or site!r}")
    except ValueError:
        _fail(f"{client!r} is not an IPv4 address")
    try:
        moment = parse_moment(at, config.node.zoneinfo)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    try:
        engine, _lists, warnings = engine_for(config)
    except (ListError, ValueError) as exc:
        _fail(str(exc))
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    name = name.lower().rstrip(".")
    data = engine.decide(group, name, moment).data(config.node.timezone)
    if as_json:
        click.echo(json.dumps({"name": name, "at": moment.isoformat(), **data}, indent=1))
        return
    colour = "red" if data["action"] == "block" else "green"
    head, first, *rest = explain_lines(name, moment, data, "draft" if draft else "live")
    console.print(head, highlight=False)
    console.print(f"[{colour}]{first}[/{colour}]", highlight=False)
    for line in rest:
        console.print(line, highlight=False)


def default_dns_db() -> str:
    """$SIMPUL_DNS_DB, else the node's front-end database, else the running lab's."""
    if "SIMPUL_DNS_DB" in os.environ:
        return os.environ["SIMPUL_DNS_DB"]
    node = "/var/lib/simpul/netd/dnsd/dns.db"
    lab = _lab_paths().root / "netd" / "dnsd" / "dns.db"
    return str(lab) if not os.path.exists(node) and lab.exists() else node


@dns_group.command("stats")
@click.option("--dns-db", default=default_dns_db, show_default="node or lab", help="counts file")
@click.option("--from", "since", help="first day (YYYY-MM-DD; default: today)")
@click.option("--to", "until", help="last day (YYYY-MM-DD; default: the first)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def dns_stats(dns_db: str, since: str | None, until: str | None, as_json: bool) -> None:
    """Queries allowed and blocked per group and category (what reports are made of)."""
    from datetime import date

    from netctl.dns_stats import totals

    try:
        first = date.fromisoformat(since) if since else date.today()
        last = date.fromisoformat(until) if until else first
    except ValueError:
        _fail("days are YYYY-MM-DD")
    if not os.path.exists(dns_db):
        _fail(f"no DNS counts at {dns_db}: is the front end running?")
    rows = totals(dns_db, first.isoformat(), last.isoformat())
    if as_json:
        keys = ("group", "category", "allowed", "blocked")
        click.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=1))
        return
    table = Table("group", "category", "allowed", "blocked", title=f"DNS {first} – {last}")
    for grp, category, allowed, blocked in rows:
        table.add_row(grp, category, f"{allowed:,}", f"{blocked:,}")
    console.print(table)


@dns_group.command("lists")
@click.option("--config", "draft", type=click.Path(dir_okay=False), help="a draft config file")
@click.option("--lists-dir", type=click.Path(file_okay=False), help="another lists directory")
@click.pass_context
def dns_lists(ctx: click.Context, draft: str | None, lists_dir: str | None) -> None:
    """Load every category list and report names, odd lines and memory."""
    from simpul.filtering.engine import load_lists
    from simpul.filtering.lists import ListError

    config = _filter_config(ctx, draft, lists_dir)
    try:
        loaded = load_lists(config)
    except ListError as exc:
        _fail(str(exc))
    table = Table("list", "category", "names", "bad lines", "memory", "report")
    for name, item in loaded.items():
        table.add_row(
            name, item.spec.category, f"{len(item.names):,}", str(item.report.bad),
            f"{item.names.nbytes / 1e6:.1f} MB", item.report.summary(),
        )  # fmt: skip
    console.print(table)


# -- usage -----------------------------------------------------------------------------------

BY_LEVEL = {"5m": "5m", "hour": "1h", "day": "1d", "month": "1mo"}


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n:,.1f} TB"


@main.command("usage")
@click.option("--opd", help="one OPD (slug)")
@click.option("--site", help="one hotspot site (slug)")
@click.option("--client", "mac", help="one device (MAC address)")
@click.option("--uplink", help="one uplink (name)")
@click.option("--from", "since", help="start: YYYY-MM-DD or 'YYYY-MM-DD HH:MM' (default: today)")
@click.option("--to", "until", help="end, exclusive (default: now)")
@click.option(
    "--by", type=click.Choice(["total", *BY_LEVEL]), default="total", show_default=True,
    help="one row per device/site/OPD/uplink, or per bucket",
)  # fmt: skip
@click.option("--top", type=click.IntRange(1, 1000), help="the N devices that moved the most "
              "bytes, by pseudonym (with --site: of that site)")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--usage-db", help="usage database (default: usage.db beside --db)")
@click.pass_context
def usage(
    ctx: click.Context, opd: str | None, site: str | None, mac: str | None, uplink: str | None,
    since: str | None, until: str | None, by: str, top: int | None, fmt: str,
    usage_db: str | None,
) -> None:  # fmt: skip
    """Bytes up and down per device, hotspot site, OPD and uplink, exact to the byte."""
    import csv
    from datetime import datetime

    from netctl.clients import ClientError, parse_mac
    from simpul.filtering.schedule import parse_moment
    from simpul.usage import queries
    from simpul.usage.db import USAGE_DB, connect

    chosen = [(n, v) for n, v in (("opd", opd), ("site", site), ("client", mac),
                                  ("uplink", uplink)) if v]  # fmt: skip
    if len(chosen) > 1 and not (len(chosen) == 2 and {n for n, _ in chosen} == {"client", "site"}):
        _fail("choose one of --opd, --site, --client, --uplink (or --client with --site)")
    if top and (by != "total" or len(chosen) > (1 if site else 0)):
        _fail("--top lists devices over the whole range: only --site goes with it")
    node = _node_config(ctx)
    tz = node.node.zoneinfo
    try:
        today = parse_moment(None, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        start = parse_moment(since, tz) if since else today
        end = parse_moment(until, tz)
        if mac:
            mac = parse_mac(mac)
    except (ValueError, ClientError) as exc:
        _fail(str(exc))
    if mac and by in ("5m", "hour"):
        _fail("devices are counted by the day (privacy): use --by day or month")
    if end <= start:
        _fail(f"--to ({end:%Y-%m-%d %H:%M}) must come after --from ({start:%Y-%m-%d %H:%M})")
    scope, key, where_site = usage_filter(opd, site, mac, uplink)
    extras: dict[str, tuple[int, int]] = {}  # site -> (devices, peak clients at once)
    with _reader(connect, usage_db or _beside_db(ctx, USAGE_DB)) as db:
        t0, t1 = start.timestamp(), end.timestamp()
        if top:
            rows = queries.top_talkers(db, tz, t0, t1, _pseudonymizer(ctx), site=site, limit=top)
        elif by == "total":
            rows = queries.totals(db, tz, t0, t1, scope=scope, key=key, site=where_site)
            extras = queries.site_figures(db, tz, t0, t1)
        else:
            rows = queries.series(db, tz, t0, t1, level=BY_LEVEL[by], scope=scope, key=key,
                                  site=where_site)  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps(usage_json(rows, extras), indent=1))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["start", "scope", "key", "site", "down_bytes", "up_bytes",
                         "down_packets", "up_packets", "sessions"])  # fmt: skip
        for r in rows:
            when = datetime.fromtimestamp(r.start, tz).isoformat()
            writer.writerow([when, r.scope, r.key, r.site, r.down_bytes, r.up_bytes,
                             r.down_packets, r.up_packets, r.sessions])  # fmt: skip
        return
    title = f"usage {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({tz.key})"
    table = Table(*(["from"] if by != "total" else []), "scope", "name", "site", "down", "up",
                  "total", "sessions", "devices", "peak", title=title)  # fmt: skip
    for r in rows:
        when = [f"{datetime.fromtimestamp(r.start, tz):%Y-%m-%d %H:%M}"] if by != "total" else []
        devices, peak = extras.get(r.key, ("", "")) if r.scope == "site" else ("", "")
        table.add_row(*when, r.scope, r.key, r.site, _human_bytes(r.down_bytes),
                      _human_bytes(r.up_bytes), _human_bytes(r.total_bytes),
                      str(r.sessions) if r.scope == "site" else "", str(devices),
                      str(peak))  # fmt: skip
    console.print(table)
    kept = node.accounting.retention
    err.print(
        f"kept: 5-minute {kept.five_minute_days} d, hourly {kept.hourly_days} d, daily "
        f"{kept.daily_days} d, monthly {kept.monthly_days} d; per device (daily) "
        f"{kept.client_days} d"
    )
    if not rows:
        err.print("no traffic counted in this range")


def usage_filter(
    opd: str | None, site: str | None, mac: str | None, uplink: str | None
) -> tuple[str | None, str | None, str | None]:
    """(scope, key, site) of the rows `simpul usage` reads: one device (of one site, given
    both), OPD, uplink or site; or (None, None, None) for all."""
    if mac:
        return "client", mac, site
    for scope, key in (("opd", opd), ("uplink", uplink), ("site", site)):
        if key:
            return scope, key, None
    return None, None, None


def usage_json(rows: list[Any], extras: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """`simpul usage --format json`: each row with its total; a site's with its devices and
    peak clients (`extras`)."""
    from dataclasses import asdict

    out = []
    for r in rows:
        row = asdict(r) | {"total_bytes": r.total_bytes}
        if r.scope == "site" and r.key in extras:
            row |= dict(zip(("devices", "peak_clients"), extras[r.key], strict=True))
        out.append(row)
    return out


def _beside_db(ctx: click.Context, *parts: str) -> str:
    """A path in the directory of the node's database (--db)."""
    return os.path.join(os.path.dirname(os.path.abspath(ctx.obj["db"])), *parts)


def _reader(connect: Any, path: str) -> contextlib.closing[Any]:
    """A read-only connection (`connect(path, readonly=True)`) that closes when the `with`
    ends; a missing database is a clear error."""
    try:
        return contextlib.closing(connect(path, readonly=True))
    except FileNotFoundError as exc:
        _fail(str(exc))


def _pseudonymizer(ctx: click.Context) -> Any:
    """How reports name a device: netd's keyed pseudonym (its key beside the database)."""
    from simpul import pseudonyms

    path = _beside_db(ctx, "netd", "node.key")
    try:
        with open(path, "rb") as handle:
            secret = handle.read()
    except OSError as exc:
        _fail(f"cannot read netd's pseudonym key {path}: {exc.strerror} (run as root)")
    return lambda mac: pseudonyms.device(secret, mac)


# -- monitor ---------------------------------------------------------------------------------


@main.group()
def monitor() -> None:
    """The V-Sat and site links: state, outages, acknowledgements."""


def _monitor_db(ctx: click.Context, path: str | None) -> str:
    from monitoring.store import MONITOR_DB

    return path or _beside_db(ctx, "monitor", MONITOR_DB)


def _node_config(ctx: click.Context) -> Any:
    """The node's stored configuration; none imported yet is a clear error."""
    from simpul.store import Store

    with Store(ctx.obj["db"]) as store:
        if not store.has_config():
            _fail("no configuration imported yet")
        return store.config()


@monitor.command("status")
@click.option("--monitor-db", help="the monitor's database (default: beside --db)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_status(ctx: click.Context, monitor_db: str | None, as_json: bool) -> None:
    """Every link's state, RTT, loss and last poll."""
    from datetime import datetime

    from monitoring.store import alert_states, connect, latest

    config = _node_config(ctx)
    tz = config.node.zoneinfo
    with _reader(connect, _monitor_db(ctx, monitor_db)) as db:
        rows = latest(db)
        states = alert_states(db)
    sites = {t.name: t.site or "" for t in config.monitoring.targets}
    out = []
    for r in rows:
        state = states.get(r["target"], {})
        out.append({
            "target": r["target"], "site": sites.get(r["target"], ""),
            "state": state.get("state", r["severity"]), "since": state.get("since"),
            "acked_by": state.get("acked_by"), "rtt_ms": r["rtt_ms"],
            "loss_percent": r["loss_percent"], "jitter_ms": r["jitter_ms"],
            "last_poll": datetime.fromtimestamp(r["at"], tz).isoformat(timespec="seconds"),
            "reasons": [x for x in r["reasons"].split("\n") if x],
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    table = Table("target", "site", "state", "since", "RTT", "loss", "last poll", "why")
    for o in out:
        rtt = f"{o['rtt_ms']:.0f} ms" if o["rtt_ms"] is not None else "—"
        loss = f"{o['loss_percent']:.0f} %" if o["loss_percent"] is not None else "—"
        since = (o["since"] or "")[:16].replace("T", " ")
        state = o["state"] + (f" (ack {o['acked_by']})" if o["acked_by"] else "")
        table.add_row(o["target"], o["site"], state, since, rtt, loss, o["last_poll"][11:19],
                      "; ".join(o["reasons"])[:80])  # fmt: skip
    console.print(table)


@monitor.command("outages")
@click.option("--month", help="YYYY-MM (default: this month)")
@click.option("--monitor-db", help="the monitor's database (default: beside --db)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_outages(
    ctx: click.Context, month: str | None, monitor_db: str | None, as_json: bool
) -> None:
    """The outage ledger of a month and each link's availability and SLA minutes."""
    from datetime import datetime

    from monitoring import ledger
    from monitoring.reports.monthly import ledger_outages
    from monitoring.store import connect

    config = _node_config(ctx)
    tz = config.node.zoneinfo
    now = datetime.now(tz)
    try:
        year, number = (int(p) for p in (month or f"{now:%Y-%m}").split("-"))
        start, end = ledger.month_period(year, number, tz)
    except ValueError:
        _fail(f"--month {month!r}: use YYYY-MM, e.g. {now:%Y-%m}")
    with _reader(connect, _monitor_db(ctx, monitor_db)) as db:
        ledger_rows = ledger_outages(db, start, end)
    sla_s = config.monitoring.alerting.sla_outage_s
    figures = ledger.availability(ledger_rows, start, end, now, sla_outage_s=sla_s,
                                  targets=[t.name for t in config.monitoring.targets])  # fmt: skip
    if as_json:
        click.echo(json.dumps({
            "month": f"{year:04d}-{number:02d}",
            "outages": [{"target": o.target, "site": o.site, "start": o.start.isoformat(),
                         "end": o.end.isoformat() if o.end else None, "cause": o.cause,
                         "duration_s": round(o.duration_s(now)), "sla": o.sla(sla_s),
                         "maintenance": o.in_maintenance} for o in ledger_rows],
            "availability": {t: {"ratio": a.ratio, "down_s": round(a.down_s),
                                 "sla_minutes": round(a.sla_minutes, 1)}
                             for t, a in figures.items()},
        }, indent=1))  # fmt: skip
        return
    table = Table("target", "site", "start", "end", "duration", "cause", "SLA",
                  title=f"outages {year:04d}-{number:02d} ({tz.key})")  # fmt: skip
    for o in ledger_rows:
        minutes = o.duration_s(now) / 60
        table.add_row(o.target, o.site or "", f"{o.start.astimezone(tz):%d %H:%M}",
                      f"{o.end.astimezone(tz):%d %H:%M}" if o.end else "(open)",
                      f"{minutes:.1f} min", o.cause + (" (maint.)" if o.in_maintenance else ""),
                      "yes" if o.sla(sla_s) else "")  # fmt: skip
    console.print(table)
    summary = Table("target", "availability", "down", "SLA minutes")
    for target, a in figures.items():
        ratio = f"{a.ratio * 100:.3f} %" if a.ratio is not None else "—"
        summary.add_row(target, ratio, f"{a.down_s / 60:.1f} min", f"{a.sla_minutes:.1f}")
    console.print(summary)


@monitor.command("ack")
@click.argument("target")
@click.option("--by", "who", required=True, help="who takes it on (name or username)")
@click.option("--monitor-db", help="the monitor's database (default: beside --db)")
@click.pass_context
def monitor_ack(ctx: click.Context, target: str, who: str, monitor_db: str | None) -> None:
    """Acknowledge a link's trouble (the monitor applies it at its next cycle)."""
    import time

    from monitoring.store import MonitorDb, acknowledge

    config = _node_config(ctx)
    if target not in {t.name for t in config.monitoring.targets}:
        _fail(f"no monitoring target is named {target!r}")
    path = _monitor_db(ctx, monitor_db)
    if not os.path.exists(path):
        _fail(f"no monitor database at {path} (has the monitor run yet?)")
    db = MonitorDb(path)
    acknowledge(db.db, target, who, time.time())
    db.close()
    click.echo(f"{target}: acknowledged by {who.strip()} (applied at the monitor's next cycle)")


# -- reports ---------------------------------------------------------------------------------


@main.group()
def report() -> None:
    """Monthly reports for Kominfo reviewers and leadership: CSV or a PDF ready to sign."""


def _report_options(command: Any) -> Any:
    for option in reversed([
        click.option("--month", help="YYYY-MM (default: last month)"),
        click.option("--format", "fmt", type=click.Choice(["csv", "pdf"]), default="pdf",
                     show_default=True),
        click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
                     help="the file to write"),
        click.option("--table", type=int, default=1, show_default=True,
                     help="for CSV: which of the report's tables (1, 2, ...)"),
    ]):  # fmt: skip
        command = option(command)
    return command


def _month(text: str | None, tz: Any) -> tuple[int, int]:
    from datetime import datetime

    from monitoring.reports.monthly import report_month

    try:
        return report_month(text, datetime.now(tz))
    except ValueError as exc:
        _fail(f"--{exc}")


def _write_report(built: Any, fmt: str, output: str, table: int) -> None:
    from monitoring.reports.render import RenderError, to_csv, to_pdf

    try:
        if fmt == "csv":
            Path(output).write_text(to_csv(built, table - 1), encoding="utf-8")
        else:
            to_pdf(built, output)
    except (RenderError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"{output}: {built.title} ({built.period})")


@report.command("usage")
@_report_options
@click.option("--usage-db", help="usage database (default: beside --db)")
@click.option("--dns-db", default=default_dns_db, show_default="node or lab",
              help="the DNS front end's counts (blocked categories)")  # fmt: skip
@click.pass_context
def report_usage(ctx: click.Context, month: str | None, fmt: str, output: str, table: int,
                 usage_db: str | None, dns_db: str) -> None:  # fmt: skip
    """Usage per OPD, hotspot site and uplink for a month."""
    from datetime import date

    from monitoring.reports.monthly import month_bounds, usage_report
    from netctl.dns_stats import totals as dns_totals
    from simpul.usage.db import USAGE_DB, connect

    config = _node_config(ctx)
    year, number = _month(month, config.node.zoneinfo)
    with _reader(connect, usage_db or _beside_db(ctx, USAGE_DB)) as db:
        start, end = month_bounds(year, number, config.node.zoneinfo)
        last_day = date.fromordinal(end.date().toordinal() - 1)
        dns = dns_totals(dns_db, start.date().isoformat(), last_day.isoformat()) if os.path.exists(
            dns_db) else []  # fmt: skip
        built = usage_report(config, db, dns, year, number, date.today())
    _write_report(built, fmt, output, table)


@report.command("availability")
@_report_options
@click.option("--monitor-db", help="the monitor's database (default: beside --db)")
@click.pass_context
def report_availability(ctx: click.Context, month: str | None, fmt: str, output: str,
                        table: int, monitor_db: str | None) -> None:  # fmt: skip
    """Availability per link for a month, from the outage ledger, with the SLA minutes."""
    from datetime import date, datetime

    from monitoring.reports.monthly import availability_report
    from monitoring.store import connect

    config = _node_config(ctx)
    tz = config.node.zoneinfo
    year, number = _month(month, tz)
    with _reader(connect, _monitor_db(ctx, monitor_db)) as db:
        built = availability_report(config, db, year, number, datetime.now(tz), date.today())
    _write_report(built, fmt, output, table)


@report.command("blindspot")
@_report_options
@click.option(
    "--threshold",
    type=click.FloatRange(0, 100),
    default=5.0,
    show_default=True,
    help="a site down more than this share (%) of the month makes its villages count",
)
@click.option("--monitor-db", help="the monitor's database (default: beside --db)")
@click.pass_context
def report_blindspot(ctx: click.Context, month: str | None, fmt: str, output: str, table: int,
                     threshold: float, monitor_db: str | None) -> None:  # fmt: skip
    """Blind spots: villages with no signal, or whose site was down too long (for the operator)."""
    from datetime import date, datetime

    from monitoring.reports.monthly import (
        blindspot_report,
        month_blind_spots,
        month_bounds,
        site_downtime,
    )
    from monitoring.reports.register import load_register
    from monitoring.store import connect
    from simpul.store import Store

    config = _node_config(ctx)
    tz = config.node.zoneinfo
    year, number = _month(month, tz)
    with Store(ctx.obj["db"]) as store:
        villages = load_register(store)
    if not villages:
        _fail("the village register is empty: import one with 'simpul villages import FILE'")
    start, end = month_bounds(year, number, tz)
    downtime: dict[str, float] = {}
    path = _monitor_db(ctx, monitor_db)
    if os.path.exists(path):
        with _reader(connect, path) as db:
            downtime = site_downtime(config, db, start, end, datetime.now(tz))
    spots = month_blind_spots(config, villages, downtime, year, number, threshold)
    built = blindspot_report(config, villages, spots, year, number, threshold, date.today())
    _write_report(built, fmt, output, table)


@main.group()
def villages() -> None:
    """The village register (signal surveys) behind the blind-spot report."""


@villages.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def villages_import(ctx: click.Context, path: str) -> None:
    """Replace the register with a survey CSV (every problem with its line; nothing is imported
    unless all is well)."""
    import getpass
    from datetime import date

    from monitoring.reports.register import import_register
    from monitoring.reports.villages import RegisterError, parse_register
    from simpul.store import Store

    config = _node_config(ctx)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"{path}: cannot read: {exc}")
    try:
        parsed = parse_register(text, config, date.today())
    except RegisterError as exc:
        err.print(f"{path}: {exc.render()}", markup=False, highlight=False)
        sys.exit(1)
    with Store(ctx.obj["db"]) as store:
        number = import_register(store, parsed, getpass.getuser(), os.path.basename(path))
    click.echo(f"{path}: {len(parsed)} villages imported (import {number})")


# -- console users ---------------------------------------------------------------------------

DEFAULT_ADMIN_DB = "/var/lib/simpul/console/console.db"


def default_admin_db() -> str:
    """$SIMPUL_ADMIN_DB, else the node's console database."""
    return os.environ.get("SIMPUL_ADMIN_DB", DEFAULT_ADMIN_DB)


def _admin_db_option(command: Any) -> Any:
    return click.option(
        "--db",
        "admin_db",
        default=default_admin_db,
        show_default="$SIMPUL_ADMIN_DB or " + DEFAULT_ADMIN_DB,
        help="the console's database",
    )(command)


def _password_option(command: Any) -> Any:
    return click.option(
        "--password-file",
        type=click.File("r", encoding="utf-8"),
        help="read the password from the first line of this file ('-': standard input) "
        "instead of asking twice",
    )(command)


def _console_db(path: str) -> Any:
    """console.db at `path`. Made by root, a new file gets the owner of its directory (the
    console's user, who must write it), as SQLite then gives its -wal and -shm files."""
    import sqlite3

    from portal.admin.accounts import ConsoleDb

    directory = os.path.dirname(os.path.abspath(path))
    try:
        if os.geteuid() == 0 and os.path.isdir(directory) and not os.path.exists(path):
            owner = os.stat(directory)
            Path(path).touch(mode=0o600)
            os.chown(path, owner.st_uid, owner.st_gid)
        return ConsoleDb(path)
    except (OSError, sqlite3.Error) as exc:
        _fail(f"cannot open the console database {path}: {exc}")


def _new_password(password_file: Any) -> str:
    if password_file is not None:
        return str(password_file.readline().rstrip("\r\n"))
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True, err=True))


def _account_change(change: Any) -> Any:
    """Run `change`; a refused account change is a clear message and exit 1."""
    from portal.admin.accounts import AccountError

    try:
        return change()
    except AccountError as exc:
        _fail(str(exc))


@main.group("admin")
def admin_group() -> None:
    """The admin console (its users live in its own database, console.db)."""


@admin_group.group("user")
def admin_user() -> None:
    """Console users: add, change a password, list, disable, enable."""


@admin_user.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "operator", "reviewer"]),
    required=True,
    help="admin: everything; operator: clients, vouchers, alerts; reviewer: read only",
)
@_password_option
@_admin_db_option
def admin_user_add(name: str, role: str, password_file: Any, admin_db: str) -> None:
    """Add console user NAME with ROLE (the password is asked twice unless --password-file)."""
    db = _console_db(admin_db)
    with contextlib.closing(db):
        user = _account_change(lambda: db.add_user(name, role, _new_password(password_file)))
    click.echo(f"user {user.name} added ({user.role})")


@admin_user.command("passwd")
@click.argument("name")
@_password_option
@_admin_db_option
def admin_user_passwd(name: str, password_file: Any, admin_db: str) -> None:
    """Set NAME's password (their sessions and API tokens end)."""
    db = _console_db(admin_db)
    with contextlib.closing(db):
        if db.user(name) is None:
            _fail(f"no console user {name}")
        _account_change(lambda: db.update_user(name, password=_new_password(password_file)))
    click.echo(f"password of {name} changed; their sessions and API tokens ended")


@admin_user.command("list")
@click.option("--json", "as_json", is_flag=True)
@_admin_db_option
def admin_user_list(as_json: bool, admin_db: str) -> None:
    """Every console user, one a line: name, role, state, when made (for scripts: each line
    starts with the name)."""
    from datetime import datetime

    db = _console_db(admin_db)
    with contextlib.closing(db):
        users = db.users()
    if as_json:
        click.echo(json.dumps([{"name": u.name, "role": u.role, "disabled": u.disabled,
                                "created_at": u.created_at} for u in users]))  # fmt: skip
        return
    for user in users:
        created = datetime.fromtimestamp(user.created_at).strftime("%Y-%m-%d %H:%M")
        state = "disabled" if user.disabled else "enabled"
        click.echo(f"{user.name:<32} {user.role:<9} {state:<9} {created}")


def _set_disabled(name: str, disabled: bool, admin_db: str) -> None:
    db = _console_db(admin_db)
    with contextlib.closing(db):
        _account_change(lambda: db.update_user(name, disabled=disabled))
    state = "disabled: their sessions and API tokens ended" if disabled else "enabled"
    click.echo(f"user {name} {state}")


@admin_user.command("disable")
@click.argument("name")
@_admin_db_option
def admin_user_disable(name: str, admin_db: str) -> None:
    """Disable NAME: no sign-in, sessions and API tokens end (the last admin stays enabled)."""
    _set_disabled(name, True, admin_db)


@admin_user.command("enable")
@click.argument("name")
@_admin_db_option
def admin_user_enable(name: str, admin_db: str) -> None:
    """Let a disabled user sign in again."""
    _set_disabled(name, False, admin_db)


# -- lab -------------------------------------------------------------------------------------


@main.group()
def lab() -> None:
    """The whole regency network on this machine, in network namespaces."""


def _lab_config_option() -> Any:
    return click.option(
        "--config",
        "config_path",
        default=str(EXAMPLES / "lab.yaml"),
        show_default=True,
        type=click.Path(dir_okay=False),
        help="the node configuration the lab is built from",
    )


@lab.command("up")
@_lab_config_option()
@click.option(
    "--clients",
    "clients_per_site",
    default=1,
    show_default=True,
    type=click.IntRange(1, 50),
    help="hotspot phones per site",
)
def lab_up(config_path: str, clients_per_site: int) -> None:
    """Build the lab and start every daemon (idempotent)."""
    from simpul.lab.runner import Lab, LabError

    lab_ = Lab(
        _load(config_path), os.environ.get("SIMPUL_LAB_PREFIX", LAB_PREFIX), clients_per_site
    )
    try:
        with console.status("building the lab") as spinner:
            lab_.up(config_path, progress=lambda m: spinner.update(m))
    except LabError as exc:
        _fail(str(exc))
    _print_lab(lab_.status())
    console.print(
        "\nnext: [bold]simpul status[/bold], [bold]simpul clients list[/bold], "
        "[bold]simpul lab exec hs-1 -- curl http://example.org/[/bold], "
        "[bold]simpul lab down[/bold]"
    )


def _print_lab(state: dict[str, Any]) -> None:
    table = Table("host", "address", "role", title="Simpul lab")
    for h in state["hosts"]:
        table.add_row(
            h["host"] if h["up"] else f"[red]{h['host']} (gone)[/red]", h["address"], h["role"]
        )
    console.print(table)
    daemons = Table("daemon", "host", "pid", "state")
    for name, d in state["daemons"].items():
        daemons.add_row(
            name,
            d["ns"],
            str(d["pid"]),
            "[green]running[/green]" if d["running"] else "[red]stopped[/red]",
        )
    console.print(daemons)
    console.print(f"netd API: {state['socket']}   state: {state['state_dir']}")
    access = state.get("console")
    if access:
        console.print(
            f"admin console: [bold]{access['url']}/[/bold]   user: {access['user']}   "
            f"password: {access['password']} (in {access['password_file']})",
            highlight=False,
        )


@lab.command("status")
@_lab_config_option()
def lab_status(config_path: str) -> None:
    """What runs where in the lab."""
    from simpul.lab.runner import Lab

    paths = _lab_paths()
    path = str(paths.config) if paths.config.exists() else config_path
    lab_ = Lab(_load(path), os.environ.get("SIMPUL_LAB_PREFIX", LAB_PREFIX))
    state = lab_.status()
    _print_lab(state)
    if not lab_.is_up():
        _fail("the lab is not (fully) up: run 'simpul lab up'", code=3)


@lab.command("down")
@click.option("--keep-state", is_flag=True, help="keep the store and DHCP leases (as a reboot)")
def lab_down(keep_state: bool) -> None:
    """Remove every namespace, process and file the lab made."""
    from simpul.lab.runner import LabError, preflight, teardown

    try:
        preflight()
    except LabError as exc:
        _fail(str(exc))
    removed = teardown(
        os.environ.get("SIMPUL_LAB_PREFIX", LAB_PREFIX), _lab_paths(), keep_state=keep_state
    )
    console.print(f"removed {len(removed)} namespace(s)" if removed else "nothing to remove")


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_exec(host: str, command: tuple[str, ...]) -> None:
    """Run COMMAND in lab HOST (e.g. `simpul lab exec hs-1 -- curl example.org`)."""
    from simpul.lab.runner import namespaces

    prefix = os.environ.get("SIMPUL_LAB_PREFIX", LAB_PREFIX)
    ns = host if host.startswith(prefix) else prefix + host
    if ns not in namespaces(prefix):
        _fail(f"no lab host {ns}: see 'simpul lab status'")
    argv = ["ip", "netns", "exec", ns, *command]
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
