"""Cross-signing without a homeserver: signatures checked independently, upload bodies, the encrypted key file."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import canonicaljson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from campusbot.channels.matrix.crosssigning import (
    CrossSigningError,
    CrossSigningKeys,
    device_signature_body,
    device_signing_upload_body,
    ensure_cross_signed,
    generate,
    load_keys,
    save_keys,
    sign_json,
    verify_json,
)
from campusbot.errors import CampusbotError, Unavailable

USER = "@campusbot:example.org"
SECRET = "correct horse battery staple"  # noqa: S105 - a test fixture


def b64decode(text: str) -> bytes:
    """Unpadded base64, decoded here without the module's helper."""
    return base64.b64decode(text + "=" * (-len(text) % 4))


def independent_verify(obj: dict[str, Any], user_id: str, public_b64: str) -> None:
    """The spec's check, written from scratch: raises InvalidSignature if the signature does not hold."""
    assert "=" not in public_b64
    signature = obj["signatures"][user_id][f"ed25519:{public_b64}"]
    assert "=" not in signature
    stripped = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    Ed25519PublicKey.from_public_bytes(b64decode(public_b64)).verify(b64decode(signature), canonicaljson.encode_canonical_json(stripped))


def public_of(seed: bytes) -> str:
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return base64.b64encode(raw).decode().rstrip("=")


@pytest.fixture(scope="module")
def keys() -> CrossSigningKeys:
    return generate()


def device_keys(device_id: str = "DEVICEID") -> dict[str, Any]:
    device_seed = bytes(range(32))
    device = {
        "user_id": USER,
        "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{device_id}": "Y3VydmU", f"ed25519:{device_id}": public_of(device_seed)},
    }
    signature = Ed25519PrivateKey.from_private_bytes(device_seed).sign(canonicaljson.encode_canonical_json(device))
    return {
        **device,
        "signatures": {USER: {f"ed25519:{device_id}": base64.b64encode(signature).decode().rstrip("=")}},
        "unsigned": {"device_display_name": "campusbot"},
    }


# --------------------------------------------------------------------------- keys


def test_generated_keys_are_distinct_32_byte_seeds_with_unpadded_public_keys(keys: CrossSigningKeys) -> None:
    seeds = {keys.master_seed, keys.self_signing_seed, keys.user_signing_seed}
    assert len(seeds) == 3
    assert all(len(seed) == 32 for seed in seeds)
    assert keys.master_public_key == public_of(keys.master_seed)
    assert keys.self_signing_public_key == public_of(keys.self_signing_seed)
    assert keys.user_signing_public_key == public_of(keys.user_signing_seed)
    assert len(keys.master_public_key) == 43  # 32 bytes, unpadded
    assert keys.master_seed.hex() not in repr(keys)


def test_keys_reject_wrong_seed_length() -> None:
    with pytest.raises(CrossSigningError, match="32 bytes"):
        CrossSigningKeys(b"short", bytes(32), bytes(32))


# --------------------------------------------------------------------------- signing


def test_sign_json_verifies_independently_and_keeps_existing_signatures(keys: CrossSigningKeys) -> None:
    original = device_keys()
    before = copy.deepcopy(original)
    signed = sign_json(original, USER, keys.self_signing_seed)

    assert original == before, "sign_json must not modify its argument"
    independent_verify(signed, USER, keys.self_signing_public_key)
    # The device's own signature survives and still verifies, and unsigned is kept but not signed.
    assert signed["signatures"][USER]["ed25519:DEVICEID"] == original["signatures"][USER]["ed25519:DEVICEID"]
    assert signed["unsigned"] == original["unsigned"]
    assert verify_json(signed, USER, public_of(bytes(range(32))), "ed25519:DEVICEID")


def test_signature_ignores_unsigned_but_covers_everything_else(keys: CrossSigningKeys) -> None:
    signed = sign_json({"a": 1, "b": {"c": [1, 2]}}, USER, keys.master_seed)
    independent_verify({**signed, "unsigned": {"anything": True}}, USER, keys.master_public_key)
    assert verify_json({**signed, "unsigned": {"x": 1}}, USER, keys.master_public_key)
    assert not verify_json({**signed, "a": 2}, USER, keys.master_public_key)
    assert not verify_json(signed, USER, keys.self_signing_public_key)
    assert not verify_json(signed, "@someone:else", keys.master_public_key)


def test_signature_does_not_depend_on_key_order(keys: CrossSigningKeys) -> None:
    one = sign_json({"z": 1, "a": {"y": 2, "b": 3}}, USER, keys.master_seed)
    two = sign_json({"a": {"b": 3, "y": 2}, "z": 1}, USER, keys.master_seed)
    assert one["signatures"] == two["signatures"]


def test_signatures_by_several_users_accumulate(keys: CrossSigningKeys) -> None:
    other = generate()
    signed = sign_json(sign_json({"x": 1}, USER, keys.master_seed), "@other:example.org", other.user_signing_seed)
    independent_verify(signed, USER, keys.master_public_key)
    independent_verify(signed, "@other:example.org", other.user_signing_public_key)


# --------------------------------------------------------------------------- upload bodies


def test_device_signing_upload_body_has_the_spec_shape(keys: CrossSigningKeys) -> None:
    body = device_signing_upload_body(USER, keys)
    assert set(body) == {"master_key", "self_signing_key", "user_signing_key"}

    master = body["master_key"]
    assert master == {"user_id": USER, "usage": ["master"], "keys": {f"ed25519:{keys.master_public_key}": keys.master_public_key}}

    for name, usage, public in (
        ("self_signing_key", "self_signing", keys.self_signing_public_key),
        ("user_signing_key", "user_signing", keys.user_signing_public_key),
    ):
        key = body[name]
        assert key["user_id"] == USER
        assert key["usage"] == [usage]
        assert key["keys"] == {f"ed25519:{public}": public}
        assert list(key["signatures"]) == [USER]
        assert list(key["signatures"][USER]) == [f"ed25519:{keys.master_public_key}"]
        independent_verify(key, USER, keys.master_public_key)
    # JSON-serialisable as sent.
    json.dumps(body)


def test_device_signature_body_signs_the_device_with_the_self_signing_key(keys: CrossSigningKeys) -> None:
    device = device_keys("ABCDEFGH")
    body = device_signature_body(USER, device, keys)
    assert list(body) == [USER]
    assert list(body[USER]) == ["ABCDEFGH"]
    signed = body[USER]["ABCDEFGH"]
    assert "unsigned" not in signed
    unsigned_part = {k: v for k, v in device.items() if k not in ("signatures", "unsigned")}
    assert {k: v for k, v in signed.items() if k != "signatures"} == unsigned_part
    independent_verify(signed, USER, keys.self_signing_public_key)
    assert f"ed25519:{keys.master_public_key}" not in signed["signatures"][USER]


def test_device_signature_body_refuses_another_users_device(keys: CrossSigningKeys) -> None:
    with pytest.raises(CrossSigningError, match="belong to"):
        device_signature_body("@mallory:example.org", device_keys(), keys)


# --------------------------------------------------------------------------- key file


def test_save_load_round_trip_with_private_mode(tmp_path: Path, keys: CrossSigningKeys) -> None:
    path = tmp_path / "state" / "cross-signing.json"
    save_keys(keys, path, SECRET)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys(path, SECRET) == keys
    text = path.read_text()
    for seed in (keys.master_seed, keys.self_signing_seed, keys.user_signing_seed):
        assert seed.hex() not in text
        assert base64.b64encode(seed).decode().rstrip("=") not in text
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary files left behind"


def test_save_replaces_atomically_and_keeps_0600_under_a_lax_umask(tmp_path: Path, keys: CrossSigningKeys) -> None:
    path = tmp_path / "cross-signing.json"
    path.write_text("old")
    path.chmod(0o644)
    old_umask = os.umask(0)
    try:
        save_keys(keys, path, SECRET)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keys(path, SECRET) == keys


def test_each_save_uses_fresh_salt_and_nonce(tmp_path: Path, keys: CrossSigningKeys) -> None:
    save_keys(keys, tmp_path / "a.json", SECRET)
    save_keys(keys, tmp_path / "b.json", SECRET)
    a, b = (json.loads((tmp_path / name).read_text()) for name in ("a.json", "b.json"))
    assert a["salt"] != b["salt"]
    assert a["ciphertext"] != b["ciphertext"]


def test_wrong_secret_is_a_clear_cross_signing_error(tmp_path: Path, keys: CrossSigningKeys) -> None:
    path = tmp_path / "cross-signing.json"
    save_keys(keys, path, SECRET)
    with pytest.raises(CrossSigningError, match="secret is wrong") as caught:
        load_keys(path, "not the secret")
    assert isinstance(caught.value, CampusbotError)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "salt"])
def test_tampered_file_is_a_cross_signing_error(tmp_path: Path, keys: CrossSigningKeys, field: str) -> None:
    path = tmp_path / "cross-signing.json"
    save_keys(keys, path, SECRET)
    document = json.loads(path.read_text())
    raw = bytearray(b64decode(document[field]))
    raw[0] ^= 0x01
    document[field] = base64.b64encode(bytes(raw)).decode().rstrip("=")
    path.write_text(json.dumps(document))
    with pytest.raises(CrossSigningError, match="secret is wrong or the file was modified"):
        load_keys(path, SECRET)


def test_weakened_kdf_parameters_are_detected(tmp_path: Path, keys: CrossSigningKeys) -> None:
    path = tmp_path / "cross-signing.json"
    save_keys(keys, path, SECRET)
    document = json.loads(path.read_text())
    document["n"] = 2**14
    path.write_text(json.dumps(document))
    with pytest.raises(CrossSigningError, match="file was modified"):
        load_keys(path, SECRET)


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'{"format": "campusbot-cross-signing-keys", "version": 1, "kdf": "scrypt"}', b"\xff\xfe"],
)
def test_damaged_file_is_a_cross_signing_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "cross-signing.json"
    path.write_bytes(content)
    with pytest.raises(CrossSigningError, match="cross-signing key file"):
        load_keys(path, SECRET)


def test_missing_file_is_a_cross_signing_error(tmp_path: Path) -> None:
    with pytest.raises(CrossSigningError, match="no cross-signing key file"):
        load_keys(tmp_path / "absent.json", SECRET)


# --------------------------------------------------------------------------- ensure_cross_signed against a scripted homeserver


class FakeHomeserver:
    """Answers the three endpoints from a script; records what was posted."""

    def __init__(self, *, device: dict[str, Any] | None, signatures_answer: dict[str, Any], upload_answers: list[tuple[int, Any]]) -> None:
        self.device = device
        self.signatures_answer = signatures_answer
        self.upload_answers = upload_answers
        self.posted: list[tuple[str, dict[str, Any]]] = []
        self.published: dict[str, Any] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.posted.append((request.path, body))
        if request.path.endswith("/keys/query"):
            answer: dict[str, Any] = {"device_keys": {USER: {"DEVICEID": self.device} if self.device else {}}, "failures": {}}
            for section, name in (("master_keys", "master_key"), ("self_signing_keys", "self_signing_key")):
                if name in self.published:
                    answer[section] = {USER: self.published[name]}
            return web.json_response(answer)
        if request.path.endswith("/keys/device_signing/upload"):
            status, payload = self.upload_answers.pop(0)
            if status == 200:
                self.published = body
            return web.json_response(payload, status=status)
        return web.json_response(self.signatures_answer)


@contextlib.asynccontextmanager
async def serve(fake: FakeHomeserver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/_matrix/client/v3/{tail:.*}", fake.handle)
    async with TestServer(app) as server:
        yield str(server.make_url("")).rstrip("/")


async def run(url: str, tmp_path: Path, password: str | None = None) -> None:
    async with aiohttp.ClientSession() as session:
        await ensure_cross_signed(session, url, "syt_secret_token", USER, "DEVICEID", password, tmp_path / "keys", SECRET)


async def test_signature_upload_failures_are_an_error(tmp_path: Path) -> None:
    failure = {USER: {"DEVICEID": {"status": 400, "errcode": "M_INVALID_SIGNATURE", "message": "Invalid signature"}}}
    fake = FakeHomeserver(device=device_keys(), signatures_answer={"failures": failure}, upload_answers=[(200, {})])
    async with serve(fake) as url:
        with pytest.raises(CrossSigningError, match="M_INVALID_SIGNATURE"):
            await run(url, tmp_path)
    signed = fake.posted[-1][1][USER]["DEVICEID"]
    independent_verify(signed, USER, load_keys(tmp_path / "keys", SECRET).self_signing_public_key)


async def test_uia_retry_sends_password_and_session(tmp_path: Path) -> None:
    uia = {"flows": [{"stages": ["m.login.password"]}], "params": {}, "session": "abc"}
    fake = FakeHomeserver(device=device_keys(), signatures_answer={"failures": {}}, upload_answers=[(401, uia), (200, {})])
    async with serve(fake) as url:
        await run(url, tmp_path, password="hunter2")  # noqa: S106 - a test fixture
    uploads = [body for path, body in fake.posted if path.endswith("/device_signing/upload")]
    assert "auth" not in uploads[0]
    assert uploads[1]["auth"] == {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": USER},
        "password": "hunter2",
        "session": "abc",
    }
    assert {k: v for k, v in uploads[1].items() if k != "auth"} == uploads[0]


async def test_uia_without_a_password_flow_is_an_error(tmp_path: Path) -> None:
    uia = {"flows": [{"stages": ["m.oauth"]}], "params": {}, "session": "dummy"}
    fake = FakeHomeserver(device=device_keys(), signatures_answer={"failures": {}}, upload_answers=[(401, uia)])
    async with serve(fake) as url:
        with pytest.raises(CrossSigningError, match=r"no password-only flow \(flows: m.oauth\)"):
            await run(url, tmp_path, password="hunter2")  # noqa: S106 - a test fixture


@pytest.mark.parametrize(
    ("status", "answer", "error", "expected"),
    [
        (400, {"errcode": "M_BAD_JSON", "error": "Bad JSON"}, CrossSigningError, "HTTP 400 M_BAD_JSON: Bad JSON"),
        # The homeserver cannot answer now: the channel waits and tries again.
        (429, {"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests"}, Unavailable, "HTTP 429 M_LIMIT_EXCEEDED"),
        (502, {}, Unavailable, "HTTP 502 no errcode"),
    ],
)
async def test_http_errors_name_endpoint_and_errcode_but_not_the_token(
    tmp_path: Path, status: int, answer: dict[str, Any], error: type[Exception], expected: str
) -> None:
    fake = FakeHomeserver(device=device_keys(), signatures_answer={}, upload_answers=[(status, answer)])
    async with serve(fake) as url:
        with pytest.raises(error, match=f"POST /keys/device_signing/upload: {expected}") as caught:
            await run(url, tmp_path)
    assert type(caught.value) is error
    assert "syt_secret_token" not in str(caught.value)


async def test_device_without_keys_on_the_server_is_an_error(tmp_path: Path) -> None:
    fake = FakeHomeserver(device=None, signatures_answer={}, upload_answers=[(200, {})])
    async with serve(fake) as url:
        with pytest.raises(CrossSigningError, match="keys_upload"):
            await run(url, tmp_path)
    assert [path for path, _ in fake.posted] == ["/_matrix/client/v3/keys/query"], "nothing may be uploaded"


async def test_an_unreachable_homeserver_is_unavailable_not_a_cross_signing_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Unavailable, match="homeserver unreachable"):
        await run(f"http://127.0.0.1:{port}", tmp_path)
