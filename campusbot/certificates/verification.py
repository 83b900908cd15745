"""Is a confirmation or certificate genuine? One answer for the CLI and the web page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from campusbot.certificates.credential import verify_credential
from campusbot.certificates.issuer_keys import IssuerKeys
from campusbot.core.ports import Store, StoredAchievement

Status = Literal["valid", "revoked", "invalid", "unknown"]


@dataclass(frozen=True, slots=True)
class Check:
    status: Status
    reason: str
    stored: StoredAchievement | None = None
    credential: Mapping[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """What the verification page shows: what was certified, when, by whom; never scores."""
        result: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.stored is None or self.credential is None:
            return result
        achievement = self.stored.achievement
        subject = self.credential.get("credentialSubject", {})
        names = [i.get("identityHash") for i in subject.get("identifier", []) if i.get("identityType") == "name"]
        result.update({
            "id": self.stored.id,
            "kind": achievement.kind,
            "module_id": achievement.module_id,
            "title": subject.get("achievement", {}).get("name"),
            "holder": names[0] if names else None,
            "issued_at": achievement.issued_at.isoformat(),
            "issuer": self.credential.get("issuer", {}).get("name"),
            "hours": achievement.hours,
            "competences": list(achievement.competences),
            "next_due": achievement.next_due.isoformat() if achievement.next_due else None,
            "revoked_at": self.stored.revoked_at.isoformat() if self.stored.revoked_at else None,
        })
        return result


def achievement_id_of(credential: Mapping[str, Any]) -> str:
    return str(credential.get("id", "")).removeprefix("urn:uuid:")


def check_credential(credential: Mapping[str, Any], keys: IssuerKeys, store: Store) -> Check:
    """A credential someone shows: signed by this operator, on record, and not revoked?"""
    verification = verify_credential(credential, keys.verification_keys())
    if not verification.valid:
        return Check("invalid", verification.reason)
    with store.transaction() as tx:
        stored = tx.achievement(achievement_id_of(credential))
    if stored is None:
        return Check("unknown", "signed by this operator, but not on record here")
    if stored.credential != credential:
        return Check("invalid", "differs from the credential on record")
    if stored.revoked_at is not None:
        return Check("revoked", "revoked", stored, credential)
    return Check("valid", "valid", stored, credential)


def check_id(achievement_id: str, keys: IssuerKeys, store: Store) -> Check:
    """The record behind a verification address, with the signature of its credential checked."""
    with store.transaction() as tx:
        stored = tx.achievement(achievement_id)
    if stored is None or stored.credential is None:
        return Check("unknown", "no such confirmation or certificate")
    return check_credential(stored.credential, keys, store)
