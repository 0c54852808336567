"""Drives one escalation: notify each level when its delay has passed, repeat
the current level, and send a resolution message when the Remediation
succeeds or a human marks it resolved.

Progress is recorded in ``status.escalation`` (with a resourceVersion
precondition), so a restarted operator neither re-pages a level nor skips
one.

Channel URLs (in Secrets, or a PagerDuty ``url``) of a policy in a tenant's
namespace must be on the admin's allow-list; a refused URL is a Failed
notification with the reason, never a request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pydantic import ValidationError

from paramedic import outbound
from paramedic.api.common import API_VERSION, GROUP, VERSION, parse_duration, rfc3339, utcnow
from paramedic.api.policies import Channel, EscalationPolicySpec, Level
from paramedic.api.remediation import ApprovalRecord, EscalationStatus, Notification, RemediationStatus, Undelivered
from paramedic.kube import ApiException, Clients
from paramedic.kube.blocking import run_blocking
from paramedic.kube.secrets import secret_text
from paramedic.policy import approvals
from paramedic.policy.admission import AdmissionGuard
from paramedic.records import events, invalid, metrics
from paramedic.records import status as remediation_status

from . import channels, passes, render

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Resolver:
    by: str
    message: str


class Notifier:
    def __init__(
        self,
        clients: Clients,
        executor: Executor,
        egress: outbound.Egress | None = None,
        operator_namespace: str = "paramedic-system",
        guard: AdmissionGuard | None = None,
    ) -> None:
        self.clients = clients
        self.executor = executor
        self.egress = egress or outbound.Egress()
        self.operator_namespace = operator_namespace
        self.guard = guard or AdmissionGuard(clients)
        #: The last refused resolution per Remediation, so it is reported once, not every second.
        self._refused: dict[str, str] = {}

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await run_blocking(self.executor, fn, *args)

    async def drive(self, namespace: str, name: str, stopped: Callable[[], bool]) -> None:
        async with outbound.session(self.egress) as session:
            await passes.follow(
                self.clients,
                self.executor,
                namespace,
                name,
                stopped,
                lambda rem: self.step(session, rem),
                "escalation",
                log,
            )

    async def step(self, session: aiohttp.ClientSession, rem: dict[str, Any]) -> float | None:
        status = RemediationStatus.model_validate(rem.get("status") or {})
        escalation = status.escalation
        if escalation is None or escalation.state != "Active":
            return None
        policy_namespace, policy_name = escalation.policy.split("/", 1)
        try:
            obj = await self._run(
                self.clients.custom.get_namespaced_custom_object,
                GROUP,
                VERSION,
                policy_namespace,
                "escalationpolicies",
                policy_name,
            )
        except ApiException as exc:
            if exc.status == 404:
                log.warning("EscalationPolicy %s not found; retrying", escalation.policy)
                return 30.0
            raise
        try:
            policy = EscalationPolicySpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:  # said once per generation on the policy; retried quietly until it is fixed
            message = invalid.explain(exc)
            if not invalid.already_said(obj.get("status"), obj["metadata"].get("generation"), message[:1024]):
                await self._run(invalid.report, self.clients, "escalationpolicies", "EscalationPolicy", obj, message)
            return 30.0
        if (invalid.ready(obj.get("status")) or {}).get("reason") == invalid.REASON:
            await self._run(invalid.valid_again, self.clients, "escalationpolicies", obj)
        moment = datetime.now(UTC)
        started = escalation.started_at
        resolver = await self._resolver(rem, status) if status.phase != "Succeeded" else None
        resolved = status.phase == "Succeeded" or resolver is not None

        levels = policy.levels
        if resolved:
            reached = [(i, c) for i, level in enumerate(levels[: escalation.level + 1]) for c in level.channels]
            await self._notify(session, rem, escalation, policy, reached, "Resolve", policy_namespace)
            escalation.state = "Resolved"
            escalation.resolved_at = utcnow()
            escalation.undelivered, escalation.retry_at, escalation.retries = [], None, 0
        else:
            due = [
                i
                for i, level in enumerate(levels)
                if i > escalation.level and started + parse_duration(level.after) <= moment
            ]
            if due:
                targets = [(i, c) for i in due for c in levels[i].channels]
                sent = await self._notify(session, rem, escalation, policy, targets, "Trigger", policy_namespace)
                escalation.level = due[-1]
                escalation.last_sent_at = utcnow()
            elif (
                escalation.level >= 0
                and escalation.last_sent_at
                and escalation.last_sent_at + parse_duration(policy.repeat_interval) <= moment
            ):
                targets = [(escalation.level, c) for c in levels[escalation.level].channels]
                sent = await self._notify(session, rem, escalation, policy, targets, "Repeat", policy_namespace)
                escalation.last_sent_at = utcnow()
            elif escalation.undelivered and escalation.retry_at and escalation.retry_at <= moment:
                sent = []
                # A channel or level edited out of the policy since is dropped, not retried forever.
                escalation.undelivered = [
                    u
                    for u in escalation.undelivered
                    if u.level < len(levels) and any(c.name == u.channel for c in levels[u.level].channels)
                ]
                for message in ("Trigger", "Repeat"):
                    targets = [
                        (u.level, c)
                        for u in escalation.undelivered
                        if u.message == message
                        for c in levels[u.level].channels
                        if c.name == u.channel
                    ]
                    if targets:
                        sent += await self._notify(session, rem, escalation, policy, targets, message, policy_namespace)
                escalation.retries += 1
            else:
                return 1.0
            self._account(escalation, policy, sent)
        meta = rem["metadata"]

        def record(fresh: RemediationStatus) -> None:
            fresh.escalation = escalation  # the notifier alone writes this part (and who resolved it)
            if resolver is not None:
                fresh.approval = (fresh.approval or ApprovalRecord()).model_copy(
                    update={"resolved_by": resolver.by, "resolved_at": escalation.resolved_at}
                )

        if resolver is not None:
            # Before the write, like the Resolve message: once the state is Resolved, Kopf cancels this daemon.
            await self._run(self._event, rem, "Resolved", resolver.message)
        await self._run(remediation_status.update, self.clients, meta["namespace"], meta["name"], record)
        return None if escalation.state == "Resolved" else 0.5

    async def _resolver(self, rem: dict[str, Any], status: RemediationStatus) -> Resolver | None:
        """Who resolved the incident through spec.resolved, if approvals.judge honours it."""
        spec = rem.get("spec") or {}
        if not spec.get("resolved"):
            return None
        installed = await self._run(self.guard.installed)
        verdict = approvals.judge("resolve", spec.get("resolvedBy"), status.approval, installed)
        if verdict.honoured:
            return Resolver(str(spec["resolvedBy"]), verdict.message)
        key = f"{rem['metadata']['namespace']}/{rem['metadata']['name']}"
        if self._refused.get(key) != verdict.message:
            self._refused[key] = verdict.message
            log.warning("remediation %s: %s", key, verdict.message)
            await self._run(self._event, rem, verdict.reason, verdict.message, True)
        return None

    def _event(self, rem: dict[str, Any], reason: str, message: str, warning: bool = False) -> None:
        events.post(self.clients, events.involved(rem, "Remediation", API_VERSION), reason, message, warning=warning)

    async def _notify(
        self,
        session: aiohttp.ClientSession,
        rem: dict[str, Any],
        escalation: EscalationStatus,
        policy: EscalationPolicySpec,
        targets: list[tuple[int, Channel]],
        message: str,
        namespace: str,
    ) -> list[tuple[Notification, float | None]]:
        """Send ``message`` to each (level index, channel) together; the notifications (recorded in the status)
        with the Retry-After a failed channel asked for."""
        incident = render.incident(
            policy.template, rem, escalation.reason, rfc3339(escalation.started_at), resolved=message == "Resolve"
        )
        jobs = [
            self._deliver(session, rem, channel, incident, policy.levels[index], index, message, namespace)
            for index, channel in targets
        ]
        sent = list(await asyncio.gather(*jobs))
        escalation.notifications = [*escalation.notifications, *(n for n, _ in sent)][-100:]
        return sent

    def _account(
        self, escalation: EscalationStatus, policy: EscalationPolicySpec, sent: list[tuple[Notification, float | None]]
    ) -> None:
        """Keep the channels that did not accept their message for the next round of re-sends, and its time."""
        tried = {(n.level, n.channel) for n, _ in sent}
        undelivered = [u for u in escalation.undelivered if (u.level, u.channel) not in tried]
        undelivered += [
            Undelivered(level=n.level, channel=n.channel, message=n.message)
            for n, _ in sent
            if n.outcome == "Failed" and n.message != "Resolve"
        ]
        escalation.undelivered = undelivered
        if not undelivered:
            escalation.retry_at, escalation.retries = None, 0
            return
        asked = max((a for n, a in sent if n.outcome == "Failed" and a is not None), default=None)
        delay = channels.next_round(
            escalation.retries,
            parse_duration(policy.repeat_interval).total_seconds(),
            asked,
            random.uniform(0.8, 1.2),  # jitter, not a secret
        )
        escalation.retry_at = utcnow() + timedelta(seconds=delay)
        log.info("escalation: %d channel(s) did not accept the message; next round in %.0fs", len(undelivered), delay)

    async def _deliver(
        self,
        session: aiohttp.ClientSession,
        rem: dict[str, Any],
        channel: Channel,
        incident: render.Incident,
        level_spec: Level,
        level: int,
        message: str,
        namespace: str,
    ) -> tuple[Notification, float | None]:
        ref = channel.webhook or channel.slack or channel.pagerduty
        assert ref is not None
        try:
            secret = await self._run(self._secret, namespace, ref.name, ref.key)
        except (ApiException, KeyError) as exc:
            reason = getattr(exc, "reason", exc)
            delivery = channels.Delivery(False, 1, f"cannot read Secret {namespace}/{ref.name} key {ref.key}: {reason}")
        else:
            url, body = channels.request(
                channel, secret, incident, rem["metadata"]["uid"], level_spec.name, level_spec.severity
            )
            # The operator's own namespace is the admin's; so is the public PagerDuty endpoint.
            trusted = namespace == self.operator_namespace or (channel.pagerduty is not None and not channel.url)
            try:
                permit = self.egress.admit(url, trusted)
            except outbound.Refused as exc:
                delivery = channels.Delivery(False, 1, outbound.describe(exc, url))
            else:
                delivery = await channels.send(session, permit, url, body)
        metrics.ESCALATIONS.labels(channels.kind_of(channel), "Sent" if delivery.ok else "Failed").inc()
        if not delivery.ok:
            metrics.NOTIFICATIONS_FAILED.labels(channels.kind_of(channel)).inc()
            log.warning(
                "escalation channel %s failed after %d attempts: %s", channel.name, delivery.attempts, delivery.error
            )
        notification = Notification(
            level=level,
            level_name=level_spec.name,
            channel=channel.name,
            kind=channels.kind_of(channel),
            message=message,
            at=utcnow(),
            outcome="Sent" if delivery.ok else "Failed",
            attempts=delivery.attempts,
            error=delivery.error,
        )
        return notification, delivery.retry_after

    def _secret(self, namespace: str, name: str, key: str) -> str:
        value = secret_text(self.clients, namespace, name, key)
        if value is None:
            raise KeyError(key)
        return value
