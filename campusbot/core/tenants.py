"""Municipalities (tenants) as the core sees them: their state's holidays and their mandatory trainings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    id: str | None
    name: str
    subdivision: str | None  # the Bundesland ("HE", "BE", ...): its public holidays get no pushes
    # The mandatory trainings that apply to its employees; None = every mandatory module of the content.
    mandatory: tuple[str, ...] | None = None
    # Where HR notices go: ("matrix", room id), ("hr-email" | "hr-webhook" | "hr-xapi", tenant id).
    hr_routes: tuple[tuple[str, str], ...] = ()
    retention_years: int = 0  # issued certificates outlive an erasure by this many years
    # Its departments (Ämter, Fachbereiche): learners say theirs, HR's summary counts by them.
    departments: tuple[str, ...] = ()

    def requires(self, module_id: str) -> bool:
        return self.mandatory is None or module_id in self.mandatory


NO_TENANT = TenantPolicy(None, "", None)


class TenantDirectory:
    """Looks tenants up by id; learners without a known tenant get national holidays only."""

    def __init__(self, policies: Iterable[TenantPolicy] = (), default: TenantPolicy = NO_TENANT) -> None:
        self._policies = {p.id: p for p in policies}
        self._default = default

    def get(self, tenant_id: str | None) -> TenantPolicy:
        return self._policies.get(tenant_id, self._default)
