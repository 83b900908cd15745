"""What a confirmation or certificate says, independent of its form (PDF, credential)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

CertificateKind = Literal["participation", "certificate", "mandatory"]


@dataclass(frozen=True, slots=True)
class CertificateData:
    id: str  # the achievement's id (a UUID); also the last path segment of verify_url
    kind: CertificateKind  # Teilnahmebestätigung, Zertifikat, Abschluss einer Pflichtschulung
    lang: str  # "de" or "en": the language of every text below
    learner_name: str
    module_id: str
    module_title: str
    module_summary: str
    criteria: str  # what was required, as a sentence
    issued_at: datetime  # aware
    hours: float  # Unterrichtseinheiten (45 minutes each)
    competences: tuple[tuple[str, str], ...]  # DigComp 2.2 (code, title), e.g. ("4.2", "Protecting personal data and privacy")
    issuer_name: str  # the municipality (tenant), e.g. "Stadt Musterstadt"
    cooperative: str  # the learning cooperative that runs campusbot
    next_due: date | None  # mandatory trainings: when it is due again
    verify_url: str  # https://.../verify/<id>
    short_code: str  # a short verification code to type, e.g. "K7QM-2XPA"
