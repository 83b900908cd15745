"""Open Badges 3.0 credentials: their shape, their eddsa-jcs-2022 proof, and the operator's keys."""

from __future__ import annotations

import copy
import json
import stat
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import base58
import jsonschema
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from campusbot.certificates.credential import CredentialError, build_credential, canonical_json, sign, verify_credential
from campusbot.certificates.issuer_keys import IssuerKey, IssuerKeyError, IssuerKeys
from campusbot.certificates.model import CertificateData, CertificateKind

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
VC_SCHEMA = CORPORA / "vc2" / "schema" / "verifiable-credential" / "verifiable-credential-schema.json"
OB_EXAMPLES = CORPORA / "openbadges" / "validator-test-credentials"

NOW = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
ISSUER = "https://campus.example.org"


def certificate_data(kind: CertificateKind = "certificate", **changes: Any) -> CertificateData:
    values: dict[str, Any] = {
        "id": "5b1c7d9e-3a2f-4c61-9f0e-8d2b6a4c1e37",
        "kind": kind,
        "lang": "de",
        "learner_name": "Anna Müller-Lüdenscheidt",
        "module_id": "informationssicherheit",
        "module_title": "Informationssicherheit im Büro",
        "module_summary": "Phishing erkennen, Passwörter verwalten, Vorfälle melden.",
        "criteria": "Alle Lerneinheiten bearbeitet und die Abschlussprüfung bestanden.",
        "issued_at": datetime(2026, 3, 2, 10, 30, 15, tzinfo=UTC),
        "hours": 1.5,
        "competences": (("4.1", "Protecting devices"), ("4.2", "Protecting personal data and privacy")),
        "issuer_name": "Stadt Musterstadt",
        "cooperative": "Lernkooperative Kommunal eG",
        "next_due": None,
        "verify_url": f"{ISSUER}/verify/5b1c7d9e-3a2f-4c61-9f0e-8d2b6a4c1e37",
        "short_code": "K7QM-2XPA",
    }
    values.update(changes)
    return CertificateData(**values)


@pytest.fixture
def keys(tmp_path: Path) -> IssuerKeys:
    return IssuerKeys(tmp_path / "issuer")


@pytest.fixture
def signed(keys: IssuerKeys) -> dict[str, Any]:
    return sign(build_credential(certificate_data(), ISSUER, ISSUER), keys.active(), NOW)


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- The W3C VC 2.0 JSON Schema ---------------------------------------------------------------


def vc_schema_validator() -> jsonschema.Draft202012Validator:
    schema = load_json(VC_SCHEMA)
    # Only local resources: a $ref to anything not registered here fails instead of going to the network.
    registry: Registry[Any] = Registry().with_resource(schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_the_vc_schema_setup_accepts_the_validator_example_and_rejects_a_credential_without_issuer() -> None:
    validator = vc_schema_validator()
    simple = load_json(OB_EXAMPLES / "simple.json")
    validator.validate(simple)
    del simple["issuer"]
    assert not validator.is_valid(simple)


@pytest.mark.parametrize("kind", ["participation", "certificate", "mandatory"])
def test_a_signed_credential_of_every_kind_validates_against_the_vc2_schema(keys: IssuerKeys, kind: CertificateKind) -> None:
    data = certificate_data(kind, next_due=date(2027, 3, 31) if kind == "mandatory" else None)
    credential = sign(build_credential(data, ISSUER, ISSUER), keys.active(), NOW)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in vc_schema_validator().iter_errors(credential)]
    assert errors == []


# --- The Open Badges 3.0 structure of the validator's valid examples -----------------------------

LEVELS: dict[str, tuple[str | int, ...]] = {
    "credential": (),
    "issuer": ("issuer",),
    "credentialSubject": ("credentialSubject",),
    "achievement": ("credentialSubject", "achievement"),
    "criteria": ("credentialSubject", "achievement", "criteria"),
    "alignment": ("credentialSubject", "achievement", "alignment", 0),
    "identifier": ("credentialSubject", "identifier", 0),
}
# What OB 3.0 requires at the levels simple.json does not show (Alignment, IdentityObject).
REQUIRED_BEYOND_SIMPLE = {
    "alignment": {"type", "targetName", "targetUrl"},
    "identifier": {"type", "hashed", "identityHash", "identityType"},
}
# simple.json names its subject by "id"; OB 3.0 requires "id" or an "identifier", and a learner has no id to publish.
OPTIONAL_IN_SIMPLE = {"credentialSubject": {"id"}}
# VC 2.0 allows one proof as an object or proofs as an array; the examples use an array, W3C's eddsa examples an object.
OTHER_FORMS = {("credential", "proof"): {"object"}}


def at(document: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def json_kind(value: Any) -> str:
    kinds = ((bool, "boolean"), (int, "number"), (float, "number"), (str, "string"), (list, "array"), (dict, "object"))
    return next(name for cls, name in kinds if isinstance(value, cls))


def test_the_credential_has_the_ob3_structure_of_the_validators_valid_examples(signed: dict[str, Any]) -> None:
    simple, complete = load_json(OB_EXAMPLES / "simple.json"), load_json(OB_EXAMPLES / "complete.json")
    problems: list[str] = []
    for level, path in LEVELS.items():
        ours, full = at(signed, path), at(complete, path)
        try:
            required = set(at(simple, path)) - OPTIONAL_IN_SIMPLE.get(level, set())
        except (KeyError, IndexError):
            required = REQUIRED_BEYOND_SIMPLE[level]
        problems += [f"{level}: {name} missing" for name in sorted(required - set(ours))]
        if "type" in full and ours.get("type") != full["type"]:
            problems.append(f"{level}: type {ours.get('type')!r}, the example has {full['type']!r}")
        for name in sorted(set(ours) & set(full)):
            if json_kind(ours[name]) not in {json_kind(full[name])} | OTHER_FORMS.get((level, name), set()):
                problems.append(f"{level}: {name} is a {json_kind(ours[name])}, the example's is a {json_kind(full[name])}")
    assert problems == []
    assert "OpenBadgeCredential" in signed["type"]


def test_the_credential_carries_module_competences_and_learner_but_no_score() -> None:
    credential = build_credential(certificate_data(), "https://issuer.example", "https://issuer.example/about")
    assert credential["@context"] == ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
    assert credential["id"] == "urn:uuid:5b1c7d9e-3a2f-4c61-9f0e-8d2b6a4c1e37"
    assert credential["issuer"] == {"id": "https://issuer.example", "type": ["Profile"], "name": "Stadt Musterstadt", "url": "https://issuer.example/about"}
    assert credential["validFrom"] == "2026-03-02T10:30:15Z"
    assert "validUntil" not in credential
    subject = credential["credentialSubject"]
    assert subject["identifier"] == [
        {"type": "IdentityObject", "identityType": "name", "hashed": False, "identityHash": "Anna Müller-Lüdenscheidt"},
    ]
    assert subject["creditsEarned"] == 1.5
    assert "result" not in subject
    achievement = subject["achievement"]
    assert achievement["id"] == "urn:campusbot:achievement:informationssicherheit:certificate"
    assert achievement["achievementType"] == "Certificate"
    assert achievement["criteria"] == {"narrative": "Alle Lerneinheiten bearbeitet und die Abschlussprüfung bestanden."}
    assert achievement["alignment"][1] == {
        "type": ["Alignment"], "targetName": "Protecting personal data and privacy", "targetCode": "4.2", "targetFramework": "DigComp 2.2",
        "targetType": "ext:DigCompCompetence", "targetUrl": "https://publications.jrc.ec.europa.eu/repository/handle/JRC128415",
    }


def test_each_kind_has_its_achievement_type_and_a_mandatory_training_expires_at_the_end_of_its_due_day() -> None:
    types = {kind: build_credential(certificate_data(kind), ISSUER, ISSUER)["credentialSubject"]["achievement"]["achievementType"]
             for kind in ("participation", "certificate", "mandatory")}
    assert types == {"participation": "Course", "certificate": "Certificate", "mandatory": "CertificateOfCompletion"}
    summer = build_credential(certificate_data("mandatory", next_due=date(2027, 3, 31)), ISSUER, ISSUER)
    winter = build_credential(certificate_data("mandatory", next_due=date(2027, 1, 15)), ISSUER, ISSUER)
    assert summer["validUntil"] == "2027-03-31T21:59:59Z"  # 23:59:59 in Berlin, summer time
    assert winter["validUntil"] == "2027-01-15T22:59:59Z"
    assert "validUntil" not in build_credential(certificate_data("mandatory", next_due=None), ISSUER, ISSUER)


def test_whole_hours_are_written_as_integers_and_impossible_hours_or_naive_times_are_refused() -> None:
    assert build_credential(certificate_data(hours=4.0), ISSUER, ISSUER)["credentialSubject"]["creditsEarned"] == 4
    assert isinstance(build_credential(certificate_data(hours=4.0), ISSUER, ISSUER)["credentialSubject"]["creditsEarned"], int)
    with pytest.raises(CredentialError, match="hours"):
        build_credential(certificate_data(hours=float("nan")), ISSUER, ISSUER)
    with pytest.raises(CredentialError, match="aware"):
        build_credential(certificate_data(issued_at=datetime(2026, 3, 2, 10, 30)), ISSUER, ISSUER)  # noqa: DTZ001


# --- Signing and verifying ------------------------------------------------------------------------


def flip_byte(credential: dict[str, Any], needle: str) -> dict[str, Any]:
    """The credential with one ASCII byte inside the first occurrence of ``needle`` changed."""
    data = json.dumps(credential, ensure_ascii=False).encode("utf-8")
    position = data.index(needle.encode("utf-8")) + len(needle) // 2
    replacement = b"3" if data[position:position + 1] == b"2" else b"2"  # both are base58 digits, so a proofValue stays decodable
    changed = json.loads(data[:position] + replacement + data[position + 1:])
    assert changed != credential
    return dict(changed)


def test_a_signed_credential_verifies_with_the_operators_keys(keys: IssuerKeys, signed: dict[str, Any]) -> None:
    proof = signed["proof"]
    assert {k: v for k, v in proof.items() if k != "proofValue"} == {
        "type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "created": "2026-03-02T09:30:15Z",
        "verificationMethod": keys.active().verification_method, "proofPurpose": "assertionMethod",
    }
    assert proof["proofValue"].startswith("z")
    assert len(base58.b58decode(proof["proofValue"][1:])) == 64
    assert verify_credential(signed, keys.verification_keys()).valid
    # Through a file, as the learner receives it.
    assert verify_credential(json.loads(json.dumps(signed, ensure_ascii=False, indent=2)), keys.verification_keys()).reason == "valid"


def test_signing_leaves_the_unsigned_credential_alone_and_refuses_to_sign_twice(keys: IssuerKeys) -> None:
    unsigned = build_credential(certificate_data(), ISSUER, ISSUER)
    before = copy.deepcopy(unsigned)
    signed = sign(unsigned, keys.active(), NOW)
    assert unsigned == before
    with pytest.raises(CredentialError, match="proof"):
        sign(signed, keys.active(), NOW)


@pytest.mark.parametrize("needle", ["Informationssicherheit im Büro", "2026-03-02T10:30:15Z"], ids=["name", "validFrom"])
def test_a_changed_byte_in_the_content_breaks_the_signature(keys: IssuerKeys, signed: dict[str, Any], needle: str) -> None:
    result = verify_credential(flip_byte(signed, needle), keys.verification_keys())
    assert (result.valid, result.reason) == (False, "signature does not match")


def test_a_changed_byte_in_the_proof_value_breaks_the_signature(keys: IssuerKeys, signed: dict[str, Any]) -> None:
    result = verify_credential(flip_byte(signed, signed["proof"]["proofValue"]), keys.verification_keys())
    assert not result.valid
    assert result.reason in ("signature does not match", "malformed proof")  # a shorter or longer decoding is malformed


def test_no_changed_byte_anywhere_in_the_file_goes_unnoticed(keys: IssuerKeys, signed: dict[str, Any]) -> None:
    verification_keys = keys.verification_keys()
    data = json.dumps(signed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    checked = 0
    for position in range(len(data)):
        for replacement in {data[position] ^ 0x01, data[position] ^ 0x20}:
            try:
                changed = json.loads(data[:position] + bytes([replacement]) + data[position + 1:])
            except ValueError:  # no longer JSON (or UTF-8): nothing a verifier would even read
                continue
            if changed == signed or not isinstance(changed, dict):
                continue
            result = verify_credential(changed, verification_keys)
            assert not result.valid, f"byte {position} ({data[max(0, position - 20):position + 20]!r}) changed unnoticed"
            checked += 1
    assert checked > len(data)  # most bytes sit in strings, where both replacements keep the JSON valid


def test_a_credential_signed_by_another_key_is_refused_even_if_it_claims_the_operators_key(tmp_path: Path, keys: IssuerKeys) -> None:
    keys.active()
    stranger = IssuerKeys(tmp_path / "stranger").active()
    forged = sign(build_credential(certificate_data(), ISSUER, ISSUER), stranger, NOW)
    assert verify_credential(forged, {stranger.verification_method: stranger.public_key}).valid  # a well-formed credential
    result = verify_credential(forged, keys.verification_keys())
    assert (result.valid, result.reason) == (False, "unknown issuer key")
    impostor = sign(build_credential(certificate_data(), ISSUER, ISSUER), stranger, NOW)
    impostor["proof"]["verificationMethod"] = keys.active().verification_method
    assert verify_credential(impostor, keys.verification_keys()).reason == "signature does not match"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: c.pop("proof"), "missing proof"),
        (lambda c: c.update(proof=[c["proof"]]), "malformed proof"),
        (lambda c: c["proof"].update(cryptosuite="eddsa-rdfc-2022"), "wrong cryptosuite"),
        (lambda c: c["proof"].update(type="Ed25519Signature2020"), "wrong cryptosuite"),
        (lambda c: c["proof"].update(proofPurpose="authentication"), "wrong proof purpose"),
        (lambda c: c["proof"].update(proofValue="u" + c["proof"]["proofValue"][1:]), "malformed proof"),
        (lambda c: c["proof"].update(proofValue=c["proof"]["proofValue"] + " "), "malformed proof"),
        (lambda c: c["proof"].update(proofValue="z" + base58.b58encode(b"\0" * 63).decode()), "malformed proof"),
        (lambda c: c["proof"].pop("verificationMethod"), "malformed proof"),
        (lambda c: c["proof"].update(created="yesterday"), "malformed proof"),
        (lambda c: c["proof"].update({"@context": ["https://www.w3.org/ns/credentials/v2"]}), "malformed proof"),
        (lambda c: c["proof"].update(created="2026-03-02T09:30:16Z"), "signature does not match"),
        (lambda c: c["proof"].update(expires="2030-01-01T00:00:00Z"), "signature does not match"),
        (lambda c: c["credentialSubject"].update(creditsEarned=2), "signature does not match"),
        (lambda c: c["credentialSubject"].update(creditsEarned=float("inf")), "malformed credential"),
        (lambda c: c.pop("@context"), "signature does not match"),
    ],
    ids=[
        "no proof", "proof set", "rdfc cryptosuite", "other proof type", "authentication purpose", "base64url multibase",
        "trailing space in proofValue", "63-byte signature", "no verification method", "created not a date", "other context in proof",
        "created changed", "proof option added", "credits changed", "credits infinite", "context removed",
    ],
)
def test_a_broken_proof_or_document_is_refused_with_its_reason(keys: IssuerKeys, signed: dict[str, Any], change: Any, reason: str) -> None:
    change(signed)
    result = verify_credential(signed, keys.verification_keys())
    assert (result.valid, result.reason) == (False, reason)


def test_a_proof_that_repeats_the_documents_context_still_verifies(keys: IssuerKeys, signed: dict[str, Any]) -> None:
    # W3C's own example puts "@context" into the proof; the signed data is the same.
    signed["proof"]["@context"] = list(signed["@context"])
    assert verify_credential(signed, keys.verification_keys()).valid


def test_after_rotation_old_credentials_still_verify_and_new_ones_use_the_new_key(keys: IssuerKeys, signed: dict[str, Any]) -> None:
    old_method = keys.active().verification_method
    new_key = keys.rotate()
    assert new_key.verification_method != old_method
    assert keys.active().verification_method == new_key.verification_method
    fresh = sign(build_credential(certificate_data(kind="participation"), ISSUER, ISSUER), keys.active(), NOW)
    assert fresh["proof"]["verificationMethod"] == new_key.verification_method
    reopened = IssuerKeys(keys.directory).verification_keys()
    assert set(reopened) == {old_method, new_key.verification_method}
    assert verify_credential(signed, reopened).valid
    assert verify_credential(fresh, reopened).valid
    keys.rotate()
    assert len(keys.verification_keys()) == 3
    assert verify_credential(signed, keys.verification_keys()).valid


# --- The operator's keys --------------------------------------------------------------------------


def test_the_first_key_is_made_once_and_kept_in_a_private_file(keys: IssuerKeys) -> None:
    assert keys.verification_keys() == {}
    assert not keys.directory.exists()  # looking does not create a key
    key = keys.active()
    assert IssuerKeys(keys.directory).active().verification_method == key.verification_method
    files = [p for p in keys.directory.rglob("*") if p.is_file()]
    assert files == [keys.directory / "active.pem"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    keys.rotate()
    for path in keys.directory.rglob("*.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "PRIVATE" not in repr(key)


def test_a_key_is_named_by_its_did_key() -> None:
    # The key pair of the W3C EdDSA cryptosuites test vectors, whose Multikey is given there.
    key = IssuerKey(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(W3C_SECRET_KEY_HEX)))
    assert key.did == "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    assert key.verification_method == f"{key.did}#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    raw = key.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base58.b58decode(key.did.removeprefix("did:key:z")) == b"\xed\x01" + raw


@pytest.mark.parametrize(
    "content",
    [b"", b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", b"\x00\x01binary"],
    ids=["empty", "garbage", "binary"],
)
def test_a_corrupt_key_file_is_an_error_naming_the_file(keys: IssuerKeys, content: bytes) -> None:
    keys.active()
    path = keys.directory / "active.pem"
    path.write_bytes(content)
    with pytest.raises(IssuerKeyError, match=str(path)):
        keys.active()
    with pytest.raises(IssuerKeyError, match=str(path)):
        keys.verification_keys()


def test_a_key_of_another_algorithm_or_a_renamed_retired_key_is_an_error_naming_the_file(keys: IssuerKeys) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    keys.active()
    keys.rotate()
    retired = next((keys.directory / "retired").glob("*.pem"))
    renamed = retired.with_name("z6MkWrongName.pem")
    retired.rename(renamed)
    with pytest.raises(IssuerKeyError, match=str(renamed)):
        keys.verification_keys()
    renamed.unlink()
    path = keys.directory / "active.pem"
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
    ))
    with pytest.raises(IssuerKeyError, match=rf"{path}: not an Ed25519 key"):
        keys.active()


# --- Known answers: RFC 8785 and the W3C eddsa-jcs-2022 test vector --------------------------------


def test_canonical_json_matches_the_rfc8785_examples() -> None:
    # RFC 8785, 3.2.2: numbers in ECMAScript form, minimal string escapes, members sorted.
    primitives = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}'
    )
    assert canonical_json(primitives) == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    # RFC 8785, 3.2.3: members sorted by UTF-16 code units, so the emoji (a surrogate pair) precedes U+FB33.
    names = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
             "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
    assert list(json.loads(canonical_json(names))) == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    # Nested members are sorted too; a float with no fraction is written as an integer.
    assert canonical_json({"b": {"z": 1.0, "ä": [2.5, -0.0]}, "a": "Müller"}) == '{"a":"Müller","b":{"z":1,"ä":[2.5,0]}}'.encode()


# W3C "Data Integrity EdDSA Cryptosuites v1.0", appendix A.2 (eddsa-jcs-2022 test vector):
# the key pair (Multikey "z6MkrJVn…", secret key given as multibase "z3u2en7t…"), the unsecured
# credential, its canonical form, the combined hashes and the resulting proofValue.
W3C_SECRET_KEY_HEX = "c96ef9ea10c5e414c471723aff9de72c35fa5b70fae97e8832ecac7d2e2b8ed6"  # noqa: S105 (published test key)
W3C_SECRET_KEY_MULTIBASE = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"  # noqa: S105 (published test key)
W3C_UNSECURED: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}
W3C_CANONICAL_DOCUMENT = (
    '{"@context":["https://www.w3.org/ns/credentials/v2","https://www.w3.org/ns/credentials/examples/v2"],'
    '"credentialSubject":{"alumniOf":"The School of Examples","id":"did:example:abcdefgh"},'
    '"description":"A minimum viable example of an Alumni Credential.","id":"urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",'
    '"issuer":"https://vc.example/issuers/5678","name":"Alumni Credential","type":["VerifiableCredential","AlumniCredential"],'
    '"validFrom":"2023-01-01T00:00:00Z"}'
)
W3C_COMBINED_HASH_HEX = (
    "66ab154f5c2890a140cb8388a22a160454f80575f6eae09e5a097cabe539a1db"
    "59b7cb6251b8991add1ce0bc83107e3db9dbbab5bd2c28f687db1a03abc92f19"
)
W3C_PROOF_VALUE = "z2HnFSSPPBzR36zdDgK8PbEHeXbR56YF24jwMpt3R1eHXQzJDMWS93FCzpvJpwTWd3GAVFuUfjoJdcnTMuVor51aX"


def test_signing_reproduces_the_w3c_eddsa_jcs_2022_test_vector() -> None:
    secret = base58.b58decode(W3C_SECRET_KEY_MULTIBASE[1:])
    assert secret[:2] == b"\x80\x26"  # multicodec ed25519-priv
    assert secret[2:].hex() == W3C_SECRET_KEY_HEX
    key = IssuerKey(Ed25519PrivateKey.from_private_bytes(secret[2:]))
    assert canonical_json(W3C_UNSECURED) == W3C_CANONICAL_DOCUMENT.encode("utf-8")

    secured = sign(W3C_UNSECURED, key, datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC))
    assert secured["proof"]["proofValue"] == W3C_PROOF_VALUE
    assert key.public_key.verify(base58.b58decode(W3C_PROOF_VALUE[1:]), bytes.fromhex(W3C_COMBINED_HASH_HEX)) is None

    # The secured document as the specification prints it, with the context repeated in the proof.
    printed = {**W3C_UNSECURED, "proof": {**secured["proof"], "@context": W3C_UNSECURED["@context"]}}
    assert verify_credential(printed, {key.verification_method: key.public_key}).valid
    printed["validFrom"] = "2023-01-01T00:00:01Z"
    assert verify_credential(printed, {key.verification_method: key.public_key}).reason == "signature does not match"
