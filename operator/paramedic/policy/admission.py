"""Is the admission policy that proves who approved installed? (the I/O half of approvals.py)

Read at start-up, so a missing policy is logged at once, and again at most
every ``ttl`` seconds when an approval or resolution is judged, so installing
(or removing) it takes effect without restarting the operator.
"""

from __future__ import annotations

import logging
import threading
import time

from paramedic.kube import ApiException, Clients

from .approvals import ADMISSION_POLICY

log = logging.getLogger(__name__)


class AdmissionGuard:
    def __init__(self, clients: Clients, ttl: float = 30.0, name: str = ADMISSION_POLICY) -> None:
        self.clients = clients
        self.ttl = ttl
        self.name = name
        self._lock = threading.Lock()
        self._checked_at = -float("inf")
        self._installed = False

    def installed(self) -> bool:
        """Whether the policy and a binding that denies on it exist (cached for ``ttl`` seconds)."""
        with self._lock:
            if time.monotonic() - self._checked_at >= self.ttl:
                installed = self._read()
                if installed != self._installed or self._checked_at == -float("inf"):
                    self._report(installed)
                self._installed, self._checked_at = installed, time.monotonic()
            return self._installed

    def _read(self) -> bool:
        try:
            self.clients.admission.read_validating_admission_policy(self.name)
            binding = self.clients.admission.read_validating_admission_policy_binding(self.name)
        except ApiException as exc:
            if exc.status != 404:
                log.error("cannot read the admission policy %s: %s %s", self.name, exc.status, exc.reason)
            return False
        spec = binding.spec
        return bool(spec and spec.policy_name == self.name and "Deny" in (spec.validation_actions or []))

    def _report(self, installed: bool) -> None:
        if installed:
            log.info("admission policy %s is installed: approvals and resolutions are honoured", self.name)
        else:
            log.error(
                "the ValidatingAdmissionPolicy and binding %s (deploy/base/admission.yaml) are not installed: "
                "no approval or resolution is honoured until they are, since nothing proves who made them",
                self.name,
            )
