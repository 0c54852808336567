"""Holds an Alertmanager silence while a Remediation acts (runbook ``spec.silence``), so that the people the
alert pages are not paged again for what paramedic is already fixing.

A lease, as kured and tuppr hold theirs: created when the Remediation starts acting (phase Running or
Verifying) with ``endsAt = now + ttl``, extended on each pass while it acts (API v2: POST
/api/v2/silences with the same id and startsAt updates it in place), expired (DELETE
/api/v2/silence/{id}) when the Remediation ends, and never past ``maxDuration`` from its creation. An
operator that dies mid-run extends nothing: the silence ends by itself within one ttl.

Restart-safe: the silence's id is in ``status.silence``, so a new leader extends the same silence. A
silence created by a replica that died before recording its id is found again by the Remediation's uid
in its comment (``createdBy: paramedic``), not created a second time.

Never blocking the fix: this runs beside the engine (fed by the same watch of Remediations, like the
escalation notifier), and an Alertmanager error is only recorded (``status.silence.error``, a Warning
Event once per distinct error) and retried.

Tenant rule: a namespaced Runbook's silence always carries ``namespace=<its namespace>``, so a tenant can
only quiet alerts about its own namespace (matchers are ANDed; a declared ``namespace`` matcher naming
another namespace silences nothing).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from pydantic import ValidationError

from paramedic import outbound
from paramedic.api.common import API_VERSION, parse_duration, rfc3339, utcnow
from paramedic.api.remediation import TERMINAL_PHASES, RemediationStatus
from paramedic.api.silence import MAX_MATCHERS, SilenceMatcher, SilenceSpec, SilenceStatus
from paramedic.kube import Clients
from paramedic.kube.blocking import run_blocking
from paramedic.records import events
from paramedic.records import status as remediation_status

from . import passes

log = logging.getLogger(__name__)

#: Phases in which a Remediation acts, and so holds its silence.
ACTING = frozenset({"Running", "Verifying"})
CREATED_BY = "paramedic"
#: Seconds between passes: how soon the end of a Remediation expires its silence.
PASS = 1.0
#: Seconds before a failed Alertmanager call is tried again.
RETRY = 5.0


def wanted(status: Any, **_: Any) -> bool:
    """Kopf's filter: a silence is to be held (the Remediation acts) or released (it is still Active)."""
    status = status or {}
    if not ((status.get("runbookSpec") or {}).get("silence")):
        return False
    state = (status.get("silence") or {}).get("state")
    if state == "Active":
        return True
    return state not in ("Expired", "Skipped") and status.get("phase") in ACTING


def marker(uid: str) -> str:
    """The part of a silence's comment that names its Remediation (found again after a crash)."""
    return f"paramedic remediation uid={uid}"


def matchers(
    spec: SilenceSpec, trigger: dict[str, Any] | None, runbook_kind: str, namespace: str
) -> list[SilenceMatcher]:
    """The silence's matchers: declared, then the alert's labels (fromTrigger), then the tenant's namespace.
    Empty when nothing but the namespace would be matched (that would silence a whole namespace)."""
    found = [m for m in spec.matchers]
    if spec.from_trigger and trigger and trigger.get("kind") == "alertmanager":
        evidence = trigger.get("evidence") or {}
        labels = {k.removeprefix("label."): v for k, v in evidence.items() if k.startswith("label.")}
        declared = {m.name for m in found}
        found += [SilenceMatcher(name=k, value=v) for k, v in sorted(labels.items()) if k not in declared]
    if not found:
        return []
    if runbook_kind == "Runbook":
        own = SilenceMatcher(name="namespace", value=namespace)
        found = [m for m in found if m != own] + [own]
    return found[:MAX_MATCHERS]


def shown(matcher: SilenceMatcher) -> str:
    op = ("=~" if matcher.is_regex else "=") if matcher.is_equal else ("!~" if matcher.is_regex else "!=")
    return f"{matcher.name}{op}{matcher.value}"[:256]


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one pass does: ``create``, ``extend``, ``expire``, ``done`` (nothing more to do) or ``wait``,
    with the endsAt to ask for and why."""

    do: str
    ends_at: datetime | None = None
    why: str = ""


def plan(spec: SilenceSpec, phase: str, silence: SilenceStatus | None, now: datetime) -> Plan:
    """The pure rule of one pass."""
    ttl = max(parse_duration(spec.ttl), timedelta(seconds=1))
    cap = parse_duration(spec.max_duration)
    state = silence.state if silence else "Pending"
    if phase in TERMINAL_PHASES or phase not in ACTING:
        if state == "Active" and phase in TERMINAL_PHASES:
            return Plan("expire", why=f"the Remediation ended ({phase})")
        return Plan("done") if phase in TERMINAL_PHASES else Plan("wait")
    if state in ("Expired", "Skipped"):
        return Plan("done")
    if state != "Active" or silence is None or silence.started_at is None or silence.ends_at is None:
        return Plan("create", ends_at=now + min(ttl, max(cap, timedelta(seconds=1))))
    limit = silence.started_at + cap
    if now >= limit:
        return Plan("expire", why=f"maxDuration {spec.max_duration} reached")
    if silence.ends_at - now <= ttl / 2:
        return Plan("extend", ends_at=min(now + ttl, limit))
    return Plan("wait")


class AlertmanagerError(Exception):
    """An Alertmanager call that failed; the message is fit for a status field."""


class Alertmanager:
    """The three calls of API v2 the silencer makes, over the guarded egress (the URL is the admin's flag)."""

    def __init__(self, url: str, egress: outbound.Egress, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.egress = egress
        self.session = session

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = self.url + path
        try:
            permit = self.egress.admit(url, trusted=True)
            async with outbound.request(self.session, permit, method, url, json=body) as response:
                if response.status >= 300:
                    text, _ = await outbound.failure(response, url)
                    raise AlertmanagerError(f"Alertmanager {method} {path.split('/')[3]}: {text}")
                raw = await outbound.read(response, 4 * 1024 * 1024)
        except (aiohttp.ClientError, TimeoutError, outbound.Refused) as exc:
            raise AlertmanagerError(f"Alertmanager: {outbound.describe(exc, url)}") from None
        return json.loads(raw) if raw.strip() else None

    async def put(self, silence: dict[str, Any]) -> str:
        answer = await self._call("POST", "/api/v2/silences", silence)
        return str(answer["silenceID"])

    async def find(self, uid: str) -> dict[str, Any] | None:
        """An active silence this operator created for the Remediation ``uid`` (one whose id was never recorded)."""
        for found in await self._call("GET", "/api/v2/silences") or []:
            active = (found.get("status") or {}).get("state") == "active"
            if active and found.get("createdBy") == CREATED_BY and marker(uid) in found.get("comment", ""):
                return dict(found)
        return None

    async def expire(self, silence_id: str) -> None:
        try:
            await self._call("DELETE", f"/api/v2/silence/{silence_id}")
        except AlertmanagerError as exc:
            if "HTTP 404" not in str(exc):  # gone already: what we wanted
                raise


class Silencer:
    """Drives the silence of one Remediation until it is released (see the module's docstring)."""

    def __init__(self, clients: Clients, executor: Executor, egress: outbound.Egress, url: str | None) -> None:
        self.clients = clients
        self.executor = executor
        self.egress = egress
        self.url = url
        #: The last error said per Remediation, so an Event is posted once per distinct error.
        self._said: dict[str, str] = {}

    async def drive(self, namespace: str, name: str, stopped: Callable[[], bool]) -> None:
        async with outbound.session(self.egress) as session:
            am = Alertmanager(self.url or "", self.egress, session)
            await passes.follow(
                self.clients, self.executor, namespace, name, stopped, lambda rem: self.step(am, rem), "silence", log
            )

    async def step(self, am: Alertmanager, rem: dict[str, Any]) -> float | None:
        """One pass; the seconds to the next, None when there is nothing more to do."""
        status = RemediationStatus.model_validate(rem.get("status") or {})
        try:
            spec = SilenceSpec.model_validate((status.runbook_spec or {}).get("silence") or {})
        except ValidationError:
            return None  # the snapshot was validated when it was sealed; an older one without silence
        now = utcnow()
        current = status.silence
        todo = plan(spec, status.phase, current, now)
        meta = rem["metadata"]
        if todo.do == "done":
            self._said.pop(f"{meta['namespace']}/{meta['name']}", None)
            return None
        if todo.do == "wait":
            return PASS
        silence = (current or SilenceStatus()).model_copy(deep=True)
        try:
            if todo.do == "expire":
                if silence.id:
                    await am.expire(silence.id)
                silence.state, silence.ends_at, silence.message = "Expired", now, f"expired: {todo.why}"
            else:
                if not self.url:
                    raise AlertmanagerError("no Alertmanager configured (the operator's --alertmanager-url)")
                found = matchers(spec, (rem.get("spec") or {}).get("trigger"), _runbook_kind(rem), meta["namespace"])
                if not found:
                    silence.state = "Skipped"
                    silence.message = "no matcher: the Remediation was not started by an alert"
                else:
                    await self._put(am, rem, spec, silence, found, todo, now)
            silence.error = ""
        except AlertmanagerError as exc:
            if todo.do == "expire" and silence.ends_at is not None and silence.ends_at <= now:
                silence.state, silence.message = "Expired", "expired by its ttl (Alertmanager did not answer)"
                silence.error = str(exc)[:1024]
            else:
                silence.error = str(exc)[:1024]
        await self._record(rem, silence, current)
        if silence.state in ("Expired", "Skipped"):
            return None
        return RETRY if silence.error else PASS

    async def _put(
        self,
        am: Alertmanager,
        rem: dict[str, Any],
        spec: SilenceSpec,
        silence: SilenceStatus,
        found: list[SilenceMatcher],
        todo: Plan,
        now: datetime,
    ) -> None:
        meta = rem["metadata"]
        assert todo.ends_at is not None
        if todo.do == "create":
            adopted = await am.find(meta["uid"])
            if adopted is not None:  # created by a replica that died before recording it
                silence.id = str(adopted["id"])
                silence.started_at = datetime.fromisoformat(adopted["startsAt"].replace("Z", "+00:00"))
            else:
                silence.id, silence.started_at = None, now.replace(microsecond=0)
        assert silence.started_at is not None
        comment = f"{spec.comment} ({meta['namespace']}/{meta['name']}; {marker(meta['uid'])})".strip()
        body: dict[str, Any] = {
            "matchers": [m.model_dump(by_alias=True) for m in found],
            "startsAt": rfc3339(silence.started_at),
            "endsAt": rfc3339(todo.ends_at),
            "createdBy": CREATED_BY,
            "comment": comment[:1024],
        }
        if silence.id:
            body["id"] = silence.id
        try:
            silence.id = await am.put(body)
        except AlertmanagerError as exc:
            if not silence.id or "HTTP 404" not in str(exc):
                raise
            # Alertmanager lost it (restarted without its storage): hold a new one, from now.
            silence.started_at = now.replace(microsecond=0)
            body.pop("id")
            body["startsAt"] = rfc3339(silence.started_at)
            silence.id = await am.put(body)
        silence.matchers = [shown(m) for m in found]
        if todo.do == "extend":
            silence.extensions += 1
        silence.state, silence.ends_at = "Active", todo.ends_at
        silence.message = f"silenced until {rfc3339(todo.ends_at)}"

    async def _record(self, rem: dict[str, Any], silence: SilenceStatus, before: SilenceStatus | None) -> None:
        meta = rem["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        if silence.error and self._said.get(key) != silence.error:
            self._said[key] = silence.error
            log.warning("silence of remediation %s: %s (the fix goes on)", key, silence.error)
            await run_blocking(self.executor, self._event, rem, "SilenceFailed", silence.error, True)
        if (before.state if before else None) != silence.state and silence.state in ("Active", "Expired", "Skipped"):
            log.info("silence of remediation %s: %s (%s)", key, silence.state, silence.message)
            await run_blocking(self.executor, self._event, rem, f"Silence{silence.state}", silence.message, False)
        if silence.state in ("Expired", "Skipped"):
            self._said.pop(key, None)
        if before is not None and silence == before:
            return

        def change(fresh: RemediationStatus) -> None:
            fresh.silence = silence  # the silencer alone writes this part

        namespace, name = meta["namespace"], meta["name"]
        await run_blocking(self.executor, remediation_status.update, self.clients, namespace, name, change)

    def _event(self, rem: dict[str, Any], reason: str, message: str, warning: bool) -> None:
        events.post(self.clients, events.involved(rem, "Remediation", API_VERSION), reason, message, warning=warning)


def _runbook_kind(rem: dict[str, Any]) -> str:
    return str(((rem.get("spec") or {}).get("runbookRef") or {}).get("kind") or "Runbook")
