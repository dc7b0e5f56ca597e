"""The verdict for one DNS name asked by one group at one moment, and why. Pure.

Precedence, first that applies decides:

1. Bypass prevention (OPD and hotspot zones): the browsers' canary names are answered NXDOMAIN
   so they turn their own DNS-over-HTTPS off; names in the `doh` category are refused.
2. The group's policy `allow` names, then its `deny` names.
3. The policy's rules in order: a rule applies when the name is in one of its categories and
   its schedule (if any) is on at that moment.
4. Allowed.

A verdict says until when it holds: the end of the window that decided it, or the start of a
window that would decide otherwise. The DNS front end clamps answer TTLs to that moment.
Classifying a name (which lists hold it) does not depend on the asker and may be cached;
verdicts are never cached across groups.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from ipaddress import IPv4Address
from typing import Any, Literal

from simpul.config.model import Config, Policy
from simpul.filtering.calendar import Calendar
from simpul.filtering.matcher import DomainSet
from simpul.filtering.schedule import State, state_at

# Names browsers ask to learn whether the network forbids their own DNS-over-HTTPS (Firefox)
# or Private Relay (Apple): NXDOMAIN turns those off.
CANARY_NAMES = frozenset({"use-application-dns.net", "mask.icloud.com", "mask-h2.icloud.com"})
DOH_CATEGORY = "doh"
FILTERED_KINDS = ("opd", "hotspot")  # zones whose DNS the policy decides (and nftables forces)

GroupKind = Literal["management", "opd", "hotspot", "remote", "unknown"]


@dataclass(frozen=True)
class Group:
    """Who asks: the zone and, for OPDs and hotspot sites, which one."""

    kind: GroupKind
    slug: str | None = None
    policy: Policy | None = None

    @property
    def key(self) -> str:
        """E.g. 'opd:dinas-pendidikan', 'hotspot:alun-alun', 'management'."""
        return f"{self.kind}:{self.slug}" if self.slug else self.kind


def group_of(config: Config, address: IPv4Address) -> Group:
    """The group of a client address (by subnet)."""
    policies = {p.name: p for p in config.policies}
    for opd in config.opds:
        if address in opd.subnet:
            return Group("opd", opd.slug, policies.get(opd.policy or ""))
    for site in config.hotspot_sites:
        if address in site.subnet:
            return Group("hotspot", site.slug, policies.get(site.policy or ""))
    for remote in config.remote_sites:
        if address in remote.subnet:
            return Group("remote", remote.slug)
    if address in config.zones.management.address.network or address.is_loopback:
        return Group("management")
    return Group("unknown")


def group_named(config: Config, kind: str, slug: str) -> Group:
    """The group of an OPD or hotspot site by slug (KeyError if none)."""
    policies = {p.name: p for p in config.policies}
    if kind == "opd":
        opd = config.opd(slug)
        return Group("opd", slug, policies.get(opd.policy or ""))
    site = config.site(slug)
    return Group("hotspot", slug, policies.get(site.policy or ""))


@dataclass(frozen=True)
class ListHit:
    """A list that holds a name: the list, its category and the entry that matched."""

    list: str
    category: str
    entry: str


@dataclass(frozen=True)
class Verdict:
    """The answer to one query and the chain of reasons behind it."""

    action: Literal["allow", "block"]
    reason: Literal["bypass", "allow-list", "deny-list", "rule", "default"]
    group: str
    policy: str | None = None
    rule: int | None = None  # 1-based
    hit: ListHit | None = None
    entry: str | None = None  # the allow/deny or canary entry
    schedule: str | None = None
    window: str | None = None
    until: datetime | None = None  # the verdict may change then
    rcode: Literal["nxdomain", "page"] | None = None  # how a block is answered

    @property
    def blocked(self) -> bool:
        """True for a block."""
        return self.action == "block"

    @property
    def category(self) -> str | None:
        """The category that decided, if a list did."""
        return self.hit.category if self.hit else None

    def ttl_cap(self, now: datetime) -> int | None:
        """Seconds until the verdict may change (None: not by schedule)."""
        if self.until is None:
            return None
        return max(0, math.floor((self.until - now).total_seconds()))

    def data(self, tz_name: str = "") -> dict[str, Any]:
        """The verdict as JSON-able data with its chain (for the CLI, the block page and the
        admin console)."""
        return {
            "action": self.action,
            "reason": self.reason,
            "group": self.group,
            "policy": self.policy,
            "rule": self.rule,
            "list": self.hit.list if self.hit else None,
            "entry": self.hit.entry if self.hit else self.entry,
            "category": self.category,
            "schedule": self.schedule,
            "window": self.window,
            "until": self.until.isoformat() if self.until else None,
            "timezone": tz_name,
            "chain": self.chain(tz_name),
        }

    def chain(self, tz_name: str = "") -> list[str]:
        """The reasons, outermost first: policy and rule, list, category, schedule window."""
        lines = [f"{self.action.upper()} for {self.group}"]
        if self.reason == "bypass":
            what = f"list {self.hit.list}, entry {self.hit.entry}" if self.hit else self.entry
            lines.append(f"bypass prevention (DNS-over-HTTPS / canary name): {what}")
        elif self.reason in ("allow-list", "deny-list"):
            lines.append(f"policy {self.policy}: {self.reason} entry {self.entry}")
        elif self.reason == "rule":
            lines.append(f"policy {self.policy}, rule {self.rule}")
        elif self.policy is None:
            lines.append("no policy for this group")
        else:
            lines.append(f"policy {self.policy}: no rule applies")
        if self.hit and self.reason != "bypass":
            lines.append(f"list {self.hit.list}: entry {self.hit.entry}")
            lines.append(f"category {self.hit.category}")
        if self.schedule:
            state = f"window {self.window}" if self.window else "off now"
            lines.append(f"schedule {self.schedule}: {state}")
        if self.until:
            lines.append(f"until {self.until.strftime('%Y-%m-%d %H:%M')} {tz_name}".rstrip())
        return lines


def explain_lines(name: str, moment: datetime, data: dict[str, Any], source: str) -> list[str]:
    """How a verdict (`Verdict.data`) reads for a person, as `simpul dns explain` and the
    console print it: the question, then the chain (rule → list → category → window → until)."""
    first, *rest = data["chain"]
    head = f"{name} at {moment.strftime('%Y-%m-%d %H:%M')} {data['timezone']} ({source} policy):"
    return [head, f"  {first}", *(f"  -> {line}" for line in rest)]


def matches_pattern(name: str, pattern: str) -> bool:
    """Whether `name` is covered by `pattern`: 'x.org' (it and its subdomains) or '*.x.org'
    (subdomains only)."""
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return name == pattern or name.endswith("." + pattern)


def _first_pattern(name: str, patterns: list[str]) -> str | None:
    return next((p for p in patterns if matches_pattern(name, p)), None)


def matches_pattern_list(name: str, patterns: list[str]) -> bool:
    """Whether any of `patterns` covers `name`."""
    return _first_pattern(name, patterns) is not None


@dataclass
class Classifier:
    """Which category lists hold a name, with an LRU cache (the same for every asker)."""

    lists: Mapping[str, tuple[str, DomainSet]]  # list name -> (category, set)
    cache_size: int = 65_536
    _cache: OrderedDict[str, tuple[ListHit, ...]] = field(default_factory=OrderedDict)

    def classify(self, name: str) -> tuple[ListHit, ...]:
        """The lists holding `name` (lowercase, no trailing dot), in list order."""
        cache = self._cache
        hits = cache.get(name)
        if hits is not None:
            cache.move_to_end(name)
            return hits
        found = []
        for list_name, (category, names) in self.lists.items():
            match = names.match(name)
            if match is not None:
                found.append(ListHit(list_name, category, match.entry))
        hits = tuple(found)
        cache[name] = hits
        if len(cache) > self.cache_size:
            cache.popitem(last=False)
        return hits


@dataclass
class PolicyEngine:
    """Verdicts for a configuration, its lists and its calendar."""

    config: Config
    classifier: Classifier
    calendar: Calendar
    # schedule name -> (computed at, state): a state holds from then until its next edge.
    _states: dict[str, tuple[datetime, State]] = field(default_factory=dict)

    def schedule_state(self, name: str, at: datetime) -> State:
        """The state of schedule `name` at `at`, computed once per edge."""
        cached = self._states.get(name)
        if cached is not None:
            since, state = cached
            if since <= at and (state.next_edge is None or at < state.next_edge):
                return state
        schedule = next(s for s in self.config.schedules if s.name == name)
        state = state_at(schedule, self.calendar, at, self.config.node.zoneinfo)
        self._states[name] = (at, state)
        return state

    def decide(self, group: Group, name: str, at: datetime) -> Verdict:
        """The verdict for `group` asking `name` at `at` (aware datetime)."""
        key = group.key
        filtered = group.kind in FILTERED_KINDS
        if filtered and name in CANARY_NAMES:
            return Verdict("block", "bypass", key, entry=name, rcode="nxdomain")
        hits = self.classifier.classify(name)
        if filtered:
            doh = next((h for h in hits if h.category == DOH_CATEGORY), None)
            if doh is not None:
                return Verdict("block", "bypass", key, hit=doh, rcode="nxdomain")
        # Allowed names still carry their first category, for the per-category counts.
        first = hits[0] if hits else None
        policy = group.policy
        if policy is None:
            return Verdict("allow", "default", key, hit=first)
        answer = "nxdomain" if group.kind == "hotspot" else policy.block_answer
        entry = _first_pattern(name, policy.allow)
        if entry:
            return Verdict("allow", "allow-list", key, policy.name, entry=entry)
        entry = _first_pattern(name, policy.deny)
        if entry:
            return Verdict("block", "deny-list", key, policy.name, entry=entry, rcode=answer)
        # The earliest start of a window that would decide before the rule that decides now.
        pending: datetime | None = None
        first_off: tuple[int, str, ListHit] | None = None
        for index, rule in enumerate(policy.rules, start=1):
            hit = next((h for h in hits if h.category in rule.categories), None)
            if hit is None:
                continue
            if rule.schedule is None:
                return self._ruled(key, policy.name, index, rule.action, hit, answer, pending)
            state = self.schedule_state(rule.schedule, at)
            if state.active is None:
                if state.next_edge is not None and (pending is None or state.next_edge < pending):
                    pending = state.next_edge
                if first_off is None:
                    first_off = (index, rule.schedule, hit)
                continue
            until = state.next_edge
            if pending is not None and (until is None or pending < until):
                until = pending
            verdict = self._ruled(key, policy.name, index, rule.action, hit, answer, until)
            return replace(verdict, schedule=rule.schedule, window=state.active.describe())
        if first_off is not None:
            index, schedule, hit = first_off
            return Verdict(
                "allow", "default", key, policy.name, rule=index, hit=hit, schedule=schedule,
                until=pending,
            )  # fmt: skip
        return Verdict("allow", "default", key, policy.name, hit=first)

    @staticmethod
    def _ruled(
        key: str,
        policy: str,
        index: int,
        action: str,
        hit: ListHit,
        answer: Literal["nxdomain", "page"],
        until: datetime | None,
    ) -> Verdict:
        if action == "allow":
            return Verdict("allow", "rule", key, policy, rule=index, hit=hit, until=until)
        return Verdict("block", "rule", key, policy, rule=index, hit=hit, until=until, rcode=answer)
