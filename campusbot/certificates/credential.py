"""Open Badges 3.0 credentials (W3C VC 2.0) and their Data Integrity proof with the eddsa-jcs-2022 cryptosuite.

The proof follows W3C "Data Integrity EdDSA Cryptosuites v1.0", section 3.3 (eddsa-jcs-2022):
the proof configuration is the proof without ``proofValue``, with the document's ``@context``;
the signed data is SHA-256(JCS(proof configuration)) followed by SHA-256(JCS(document without proof)),
where JCS is the JSON Canonicalization Scheme of RFC 8785.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

import base58
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from campusbot.certificates.issuer_keys import IssuerKey
from campusbot.certificates.model import CertificateData, CertificateKind
from campusbot.errors import CampusbotError

CONTEXT = ("https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json")
PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_PURPOSE = "assertionMethod"

# OB 3.0 AchievementType vocabulary: a passed exam designates knowledge and skills ("Certificate");
# a participation confirmation records a completed module ("Course": "a course completion");
# a mandatory training is a "CertificateOfCompletion" ("acknowledges completion of ... training").
ACHIEVEMENT_TYPE: dict[CertificateKind, str] = {
    "participation": "Course",
    "certificate": "Certificate",
    "mandatory": "CertificateOfCompletion",
}
DIGCOMP_FRAMEWORK = "DigComp 2.2"
DIGCOMP_URL = "https://publications.jrc.ec.europa.eu/repository/handle/JRC128415"
# OB 3.0 AlignmentTargetType knows CASE and Credential Engine targets; DigComp is neither, so an "ext:" term.
DIGCOMP_TARGET_TYPE = "ext:DigCompCompetence"
# Due dates of mandatory trainings are calendar days in the municipality's (German) time.
DUE_DATE_ZONE = ZoneInfo("Europe/Berlin")

VerificationReason = Literal[
    "valid", "missing proof", "malformed proof", "wrong cryptosuite", "wrong proof purpose",
    "unknown issuer key", "malformed credential", "signature does not match",
]


class CredentialError(CampusbotError):
    """A credential cannot be built or signed from the data given."""


@dataclass(frozen=True, slots=True)
class Verification:
    valid: bool
    reason: VerificationReason


def build_credential(data: CertificateData, issuer_id: str, issuer_url: str, *, due_zone: tzinfo = DUE_DATE_ZONE) -> dict[str, Any]:
    """The unsigned ``OpenBadgeCredential`` for ``data``; ``sign`` adds the proof.

    The learner appears only by name (an OB 3.0 ``IdentityObject``): no scores, no chat ids.
    """
    if not math.isfinite(data.hours) or data.hours < 0:
        raise CredentialError(f"hours must be a non-negative number, not {data.hours!r}")
    achievement: dict[str, Any] = {
        "id": f"urn:campusbot:achievement:{data.module_id}:{data.kind}",
        "type": ["Achievement"],
        "achievementType": ACHIEVEMENT_TYPE[data.kind],
        "name": data.module_title,
        "description": data.module_summary,
        "criteria": {"narrative": data.criteria},
        "inLanguage": data.lang,
    }
    if data.competences:
        achievement["alignment"] = [
            {
                "type": ["Alignment"],
                "targetName": title,
                "targetCode": code,
                "targetFramework": DIGCOMP_FRAMEWORK,
                "targetType": DIGCOMP_TARGET_TYPE,
                "targetUrl": DIGCOMP_URL,
            }
            for code, title in data.competences
        ]
    valid_until = {"validUntil": _end_of_day(data.next_due, due_zone)} if data.kind == "mandatory" and data.next_due is not None else {}
    credential: dict[str, Any] = {
        "@context": list(CONTEXT),
        "id": f"urn:uuid:{data.id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer_id, "type": ["Profile"], "name": data.issuer_name, "url": issuer_url},
        "validFrom": _timestamp(data.issued_at),
        **valid_until,
        "name": data.module_title,
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{"type": "IdentityObject", "identityType": "name", "hashed": False, "identityHash": data.learner_name}],
            "achievement": achievement,
            # An integral float becomes an int, so the file says 4, not 4.0 (JCS writes 4 either way).
            "creditsEarned": int(data.hours) if data.hours.is_integer() else data.hours,
        },
    }
    return credential


def sign(credential: Mapping[str, Any], key: IssuerKey, now: datetime) -> dict[str, Any]:
    """A copy of ``credential`` with an eddsa-jcs-2022 ``DataIntegrityProof`` by ``key``, created ``now``."""
    if "proof" in credential:
        raise CredentialError("the credential has a proof already")
    document = copy.deepcopy(dict(credential))
    proof: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": _timestamp(now),
        "verificationMethod": key.verification_method,
        "proofPurpose": PROOF_PURPOSE,
    }
    try:
        hash_data = _hash_data(document, proof)
    except rfc8785.CanonicalizationError as exc:
        raise CredentialError(f"the credential cannot be canonicalized (RFC 8785): {exc}") from exc
    proof["proofValue"] = "z" + base58.b58encode(key.private_key.sign(hash_data)).decode("ascii")
    document["proof"] = proof
    return document


def verify_credential(credential: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> Verification:
    """Whether ``credential`` carries a valid eddsa-jcs-2022 proof by one of ``keys`` (verification method id -> key).

    Checks integrity and origin only; validity dates and revocation are the caller's business.
    """
    proof = credential.get("proof")
    if proof is None:
        return Verification(False, "missing proof")
    if not isinstance(proof, dict):  # a proof set or chain is nothing this operator issues
        return Verification(False, "malformed proof")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        return Verification(False, "wrong cryptosuite")
    if proof.get("proofPurpose") != PROOF_PURPOSE:
        return Verification(False, "wrong proof purpose")
    method, proof_value = proof.get("verificationMethod"), proof.get("proofValue")
    if not isinstance(method, str) or not isinstance(proof_value, str):
        return Verification(False, "malformed proof")
    if "created" in proof and not _is_timestamp(proof["created"]):
        return Verification(False, "malformed proof")
    # A proof that names a context must name the document's: the signature covers the document's.
    if "@context" in proof and proof["@context"] != credential.get("@context"):
        return Verification(False, "malformed proof")
    signature = _decode_multibase(proof_value)
    if signature is None or len(signature) != 64:
        return Verification(False, "malformed proof")
    public_key = keys.get(method)
    if public_key is None:
        return Verification(False, "unknown issuer key")
    document = {name: value for name, value in credential.items() if name != "proof"}
    options = {name: value for name, value in proof.items() if name not in ("proofValue", "@context")}
    try:
        hash_data = _hash_data(document, options)
    except rfc8785.CanonicalizationError:
        return Verification(False, "malformed credential")
    try:
        public_key.verify(signature, hash_data)
    except InvalidSignature:
        return Verification(False, "signature does not match")
    return Verification(True, "valid")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value."""
    return rfc8785.dumps(value)


def _hash_data(document: Mapping[str, Any], proof_options: Mapping[str, Any]) -> bytes:
    config = dict(proof_options)
    if "@context" in document:
        config["@context"] = document["@context"]
    return hashlib.sha256(canonical_json(config)).digest() + hashlib.sha256(canonical_json(dict(document))).digest()


def _decode_multibase(value: str) -> bytes | None:
    """Bytes of a base58btc multibase string, or None; only the canonical spelling is accepted."""
    if not value.startswith("z"):
        return None
    try:
        decoded = base58.b58decode(value[1:])
    except ValueError:
        return None
    return decoded if base58.b58encode(decoded).decode("ascii") == value[1:] else None


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CredentialError(f"a credential's times must be aware, not {moment.isoformat()}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _end_of_day(day: date, zone: tzinfo) -> str:
    return _timestamp(datetime.combine(day, time(23, 59, 59), tzinfo=zone))


def _is_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None
