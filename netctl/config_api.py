"""netd's API for changing the configuration from the console: read it, preview a draft (the
configuration's and the ruleset's diff), apply a draft atomically, optionally on probation until
confirmed, block or unblock a device, and read the audit log.

Every change goes through the store (a new revision, audited with before/after) and then
`apply`, so the kernel never drifts from the stored configuration: an apply the kernel refuses
puts the previous revision back at once.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from netctl.clients import ClientError, parse_mac
from netctl.confirm import Pending, PendingFile, confirm_seconds
from netctl.errors import RequestError, bounded_int, text_param
from netctl.render import build_ruleset
from simpul.config import ConfigError, dump_config_yaml, parse_config
from simpul.filtering.addresses import AddressListError, doh_networks
from simpul.store import Store

log = logging.getLogger("simpul.netd")
ACTION = re.compile(r"^[a-z][a-z0-9_.-]{1,60}$")
MAX_AUDIT_ROWS = 500


def _unified(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


def _problems(exc: ConfigError) -> list[dict[str, str]]:
    return [{"path": p.path, "message": p.message} for p in exc.problems]


def _document(params: dict[str, Any]) -> dict[str, Any]:
    document = params.get("document")
    if not isinstance(document, dict):
        raise RequestError("invalid", "document must be a configuration object")
    return document


class ConfigApi:
    """The methods; `apply` is netd's own (renders the stored configuration and loads it)."""

    def __init__(
        self,
        store: Store,
        apply: Callable[[dict[str, Any]], dict[str, Any]],
        applied_path: str,
        pending_path: str,
        clock: Callable[[], float],
        end_device: Callable[[str, str], int],
    ) -> None:
        self.store = store
        self._apply = apply
        self.applied_path = applied_path
        self.pending = PendingFile(pending_path)
        self.clock = clock
        self._end_device = end_device
        self.wake: Callable[[], None] = lambda: None  # the server's: look at the deadline again

    # -- reading ---------------------------------------------------------------------------

    def document(self, params: dict[str, Any]) -> dict[str, Any]:
        """The stored configuration as plain data, its revision and any change on probation."""
        return {
            "revision": self.store.config_revision(),
            "document": self.store.config_document(),
            "pending": self.pending_info(params),
        }

    def pending_info(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The change awaiting confirmation, with the seconds left, or None."""
        try:
            pending = self.pending.read()
        except ValueError:
            return None
        if pending is None:
            return None
        return {**asdict(pending), "seconds_left": max(0.0, pending.deadline - self.clock())}

    def revisions(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The latest revisions (number, when, who, comment), newest first."""
        limit = bounded_int(params.get("limit", 20), "limit", 1, 200)
        return [dict(r) for r in self.store.revisions(limit)]

    def audit_log(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Audit entries, newest first, with their detail (before/after of each object)."""
        limit = bounded_int(params.get("limit", 50), "limit", 1, MAX_AUDIT_ROWS)
        before = params.get("before_id")
        before_id = None if before is None else bounded_int(before, "before_id", 1, 2**62)
        rows = self.store.audit_log(
            limit, before_id=before_id, action=text_param(params, "action", 60),
            actor=text_param(params, "actor", 80),
        )  # fmt: skip
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]

    def audit_record(self, params: dict[str, Any]) -> dict[str, Any]:
        """Record a change made outside netd (the console's users, say)."""
        action = params.get("action")
        if not isinstance(action, str) or not ACTION.match(action):
            raise RequestError("invalid", "action must be 2-61 characters of a-z, 0-9, _ . -")
        detail = params.get("detail", {})
        if len(json.dumps(detail)) > 20_000:
            raise RequestError("invalid", "detail is larger than 20,000 characters")
        self.store.audit(params["_actor"], action, detail)
        return {"recorded": True}

    # -- previewing and applying -----------------------------------------------------------

    def _parse(self, params: dict[str, Any]) -> Any:
        try:
            return parse_config(_document(params), source="draft")
        except ConfigError as exc:
            raise RequestError("invalid-config", exc.render()) from None

    def _refuse_if_pending(self) -> None:
        if self.pending_info({}) is not None:
            raise RequestError(
                "pending", "a change is waiting for confirmation: confirm it or let it roll back"
            )

    def preview(self, params: dict[str, Any]) -> dict[str, Any]:
        """What applying `document` would change: the configuration (YAML) and the ruleset,
        each as a unified diff; or, for an invalid draft, every problem with its path."""
        try:
            draft = parse_config(_document(params), source="draft")
        except ConfigError as exc:
            return {"valid": False, "problems": _problems(exc)}
        try:
            current = dump_config_yaml(self.store.config())
        except (LookupError, ConfigError):
            current = ""
        try:
            ruleset = build_ruleset(draft, doh_networks(draft.filtering)).document()
        except AddressListError as exc:
            return {"valid": False, "problems": [{"path": "filtering", "message": str(exc)}]}
        try:
            with open(self.applied_path, encoding="utf-8") as handle:
                applied = handle.read()
        except FileNotFoundError:
            applied = ""
        config_diff = _unified(current, dump_config_yaml(draft), "tersimpan", "draf")
        ruleset_diff = _unified(applied, ruleset, "diterapkan", "draf")
        return {
            "valid": True,
            "changed": bool(config_diff),
            "config_diff": config_diff,
            "ruleset_diff": ruleset_diff,
            "base_revision": self.store.config_revision(),
        }

    def apply_document(self, params: dict[str, Any]) -> dict[str, Any]:
        """Store `document` as a new revision and apply it in one transaction. `base_revision`
        must be the revision the draft was made from (someone else's change is never
        overwritten unseen). With `confirm_s`, the previous revision comes back unless
        `config_confirm` is called within that many seconds."""
        config = self._parse(params)
        try:
            confirm_s = confirm_seconds(params.get("confirm_s"))
        except ValueError as exc:
            raise RequestError("invalid", str(exc)) from None
        base = params.get("base_revision")
        current = self.store.config_revision()
        if isinstance(base, bool) or not isinstance(base, int) or base != current:
            raise RequestError(
                "conflict",
                f"the draft was made from revision {base!r}, but revision {current} is now "
                "stored: reload the draft and make the change again",
            )
        self._refuse_if_pending()
        actor = params["_actor"]
        comment = text_param(params, "comment", 200)
        result = self._store_and_apply(config, actor, comment)
        if result["revision"] is None or confirm_s is None:  # nothing changed, or for good
            return {**result, "confirm_by": None}
        pending = Pending(result["revision"], current, self.clock() + confirm_s, actor)
        self.pending.write(pending)
        self.wake()
        return {**result, "confirm_by": pending.deadline}

    def _store_and_apply(self, config: Any, actor: str, comment: str) -> dict[str, Any]:
        previous = self.store.config_revision()
        imported = self.store.import_config(config, actor=actor, replace=True, comment=comment)
        if imported.revision is None:
            return {"revision": None, "changed": False}
        try:
            applied = self._apply({"_actor": actor})
        except Exception as exc:
            code = getattr(exc, "code", "kernel-refused")
            try:
                self._restore(previous, actor, f"kembali ke revisi {previous}: penerapan gagal")
            except Exception as again:
                log.error("revision %d stored back, but applying it failed: %s", previous, again)
                raise RequestError(code, f"{exc}; revision {previous} was stored back, but "
                                         f"applying it failed too: {again}") from None  # fmt: skip
            raise RequestError(code, f"{exc} (revision {previous} was put back)") from None
        return {"revision": imported.revision, "changed": True, "stats": applied}

    def _restore(self, revision: int, actor: str, comment: str) -> None:
        """Put revision `revision` back and apply it."""
        document = self.store.revision_document(revision)
        config = parse_config(document, source=f"revision {revision}")
        self.store.import_config(config, actor=actor, replace=True, comment=comment)
        self._apply({"_actor": actor})

    def confirm(self, params: dict[str, Any]) -> dict[str, Any]:
        """Keep the change on probation for good."""
        pending = self.pending_info(params)
        if pending is None:
            raise RequestError("not-pending", "no change is waiting for confirmation")
        self.pending.clear()
        self.store.audit(params["_actor"], "config.confirm", {"revision": pending["revision"]})
        return {"confirmed": pending["revision"]}

    def seconds_until_due(self) -> float | None:
        """Seconds until the pending change must be rolled back (None: nothing pending)."""
        info = self.pending_info({})
        return None if info is None else info["seconds_left"]

    def roll_back_if_due(self, *, now_anyway: bool = False) -> bool:
        """Roll the pending change back if its deadline passed (or `now_anyway`, at start:
        a change not confirmed before a crash or reboot is not trusted). True if rolled back."""
        try:
            pending = self.pending.read()
        except ValueError as exc:
            log.error("pending change unreadable, kept as it is: %s", exc)
            self.pending.clear()
            return False
        if pending is None or (not now_anyway and self.clock() < pending.deadline):
            return False
        actor = "netd (rollback)"
        why = "not confirmed in time" if not now_anyway else "netd restarted before confirmation"
        self.pending.clear()
        current = self.store.config_revision()
        if current != pending.revision:
            log.warning("revision %d on probation was already replaced by %d: nothing rolled "
                        "back", pending.revision, current)  # fmt: skip
            return False
        self._restore(pending.previous, actor,
                      f"revisi {pending.revision} dibatalkan otomatis: {why}")  # fmt: skip
        self.store.audit(actor, "config.rollback",
                         {"revision": pending.revision, "restored": pending.previous,
                          "reason": why})  # fmt: skip
        log.warning("rolled back revision %d to %d: %s", pending.revision, pending.previous, why)
        return True

    # -- devices -----------------------------------------------------------------------------

    def block(self, params: dict[str, Any]) -> dict[str, Any]:
        """Refuse (or, with `blocked: false`, allow again) a device by MAC: a change to
        `portal.mac_block`, stored as a revision and applied at once; its sessions end."""
        try:
            mac = parse_mac(params.get("mac", ""))
        except ClientError as exc:
            raise RequestError("invalid", str(exc)) from None
        blocked = params.get("blocked", True)
        if not isinstance(blocked, bool):
            raise RequestError("invalid", "blocked must be true or false")
        self._refuse_if_pending()
        try:
            config = self.store.config()
        except (LookupError, ConfigError) as exc:
            raise RequestError("no-config", str(exc)) from None
        macs = [m for m in config.portal.mac_block if m != mac]
        if blocked:
            macs.append(mac)
        portal = config.portal.model_copy(update={"mac_block": macs})
        changed = config.model_copy(update={"portal": portal})
        verb = "blokir" if blocked else "buka blokir"
        try:
            changed = parse_config(changed.model_dump(mode="json"), source="block")
        except ConfigError as exc:
            raise RequestError("invalid-config", exc.render()) from None
        result = self._store_and_apply(changed, params["_actor"], f"{verb} {mac}")
        ended = self._end_device(mac, params["_actor"]) if blocked else 0
        return {"mac": mac, "blocked": blocked, "sessions_ended": ended, **result}
