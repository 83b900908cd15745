"""Issuing: an achievement becomes a PDF and a signed Open Badges 3.0 credential for the learner."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from campusbot.certificates.credential import build_credential, sign
from campusbot.certificates.issuer_keys import IssuerKeys
from campusbot.certificates.model import CertificateData
from campusbot.certificates.pdf import render_pdf
from campusbot.content.catalog import Catalog
from campusbot.core.clock import Clock
from campusbot.core.engine import Achievement
from campusbot.core.messages import FileMessage
from campusbot.core.ports import IssuedFiles
from campusbot.core.state import LearnerState
from campusbot.core.texts import Texts

FILE_STEM = {"participation": "teilnahmebestaetigung", "certificate": "zertifikat", "mandatory": "pflichtschulung"}


def short_code(achievement_id: str) -> str:
    """Eight characters to type where a QR code cannot be scanned, e.g. "K7QM-2XPA"."""
    code = base64.b32encode(uuid.UUID(achievement_id).bytes[:5]).decode("ascii")
    return f"{code[:4]}-{code[4:]}"


class CertificateService:
    def __init__(
        self, catalog: Catalog, texts: Texts, clock: Clock, keys: IssuerKeys, public_url: str, cooperative: str,
        zone: str = "Europe/Berlin",
    ) -> None:
        self._zone = ZoneInfo(zone)  # the date on the PDF is the municipality's date
        self._catalog = catalog
        self._texts = texts
        self._clock = clock
        self.keys = keys
        self.public_url = public_url.rstrip("/")
        self._cooperative = cooperative
        self._competences = {c.code: c.title for area in catalog.framework.areas for c in area.competences}

    @classmethod
    def in_data_dir(
        cls, data_dir: Path, catalog: Catalog, texts: Texts, clock: Clock, public_url: str, cooperative: str, zone: str = "Europe/Berlin",
    ) -> CertificateService:
        return cls(catalog, texts, clock, IssuerKeys(data_dir / "issuer"), public_url, cooperative, zone)

    def verify_url(self, achievement_id: str) -> str:
        return f"{self.public_url}/verify/{achievement_id}"

    def data(self, achievement_id: str, achievement: Achievement, state: LearnerState, tenant_name: str) -> CertificateData:
        lang = state.lang
        module = self._catalog.module(achievement.module_id)
        if module is None:
            raise LookupError(f"module {achievement.module_id!r} is not in the catalogue")
        competences = tuple(
            (code, self._competences[code].get(lang) if code in self._competences else code) for code in achievement.competences
        )
        return CertificateData(
            id=achievement_id, kind=achievement.kind, lang=lang,
            learner_name=state.display_name or self._texts(lang, "certificate.no_name"),
            module_id=module.id, module_title=module.title.get(lang), module_summary=module.summary.get(lang),
            criteria=self._texts(lang, f"certificate.criteria.{achievement.kind}"),
            issued_at=achievement.issued_at.astimezone(self._zone), hours=achievement.hours, competences=competences,
            issuer_name=tenant_name or self._cooperative, cooperative=self._cooperative, next_due=achievement.next_due,
            verify_url=self.verify_url(achievement_id), short_code=short_code(achievement_id),
        )

    def issue(self, achievement_id: str, achievement: Achievement, state: LearnerState, tenant_name: str) -> IssuedFiles:
        data = self.data(achievement_id, achievement, state, tenant_name)
        credential = sign(build_credential(data, self.public_url, self.public_url), self.keys.active(), self._clock.now())
        stem = FILE_STEM[achievement.kind] + "-" + achievement.module_id
        caption = self._texts(state.lang, f"certificate.caption.{achievement.kind}")
        pdf = FileMessage(f"{stem}.pdf", "application/pdf", render_pdf(data, self._texts), caption)
        badge = FileMessage(
            f"{stem}.credential.json", "application/json",
            json.dumps(credential, ensure_ascii=False, indent=2).encode("utf-8"), self._texts(state.lang, "certificate.caption.credential"),
        )
        return IssuedFiles((pdf, badge), credential)
