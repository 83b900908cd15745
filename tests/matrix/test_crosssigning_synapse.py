"""Cross-signing bootstrap against a real Synapse, with real matrix-nio devices.

Every check of the published chain (device ← self-signing key ← master key) is
done here from scratch with ``cryptography`` on what ANOTHER user's fresh
session gets from ``/keys/query``, not with the module under test.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import canonicaljson
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nio.client.async_client import AsyncClient, AsyncClientConfig
from nio.responses import KeysUploadResponse, LoginResponse

from campusbot.channels.matrix.crosssigning import CrossSigningError, ensure_cross_signed, load_keys
from tests.matrix.synapse import Account, Synapse

pytestmark = pytest.mark.slow

SECRET = "store secret for the cross-signing keys"  # noqa: S105 - a test fixture


# --------------------------------------------------------------------------- helpers


def b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def signed_by(obj: dict[str, Any], user_id: str, key_id: str, public_b64: str) -> bool:
    """The spec's signature check, independent of campusbot's code."""
    signature = obj.get("signatures", {}).get(user_id, {}).get(key_id)
    if signature is None:
        return False
    stripped = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    try:
        Ed25519PublicKey.from_public_bytes(b64decode(public_b64)).verify(
            b64decode(signature), canonicaljson.encode_canonical_json(stripped)
        )
    except InvalidSignature:
        return False
    return True


def only_key(cross_signing_key: dict[str, Any]) -> tuple[str, str]:
    ((key_id, public),) = cross_signing_key["keys"].items()
    assert key_id == f"ed25519:{public}"
    return key_id, public


class Requests:
    """Records the requests an aiohttp session makes (method and path only)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._on_start)

    async def _on_start(self, session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams) -> None:
        self.seen.append(f"{params.method} {params.url.path}")


@pytest.fixture
def requests() -> Requests:
    return Requests()


@pytest.fixture
async def session(requests: Requests) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trace_configs=[requests.trace]) as http:
        yield http


def new_account(synapse: Synapse, prefix: str) -> Account:
    return synapse.register(f"{prefix}-{uuid.uuid4().hex[:8]}")


async def nio_device(synapse: Synapse, account: Account, store: Path) -> AsyncClient:
    """Log in a fresh nio device with an encryption store (``store`` must exist) and upload its device keys."""
    client = AsyncClient(
        synapse.url,
        account.user_id,
        store_path=str(store),
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
    )
    login = await client.login(account.password, device_name="campusbot test")
    assert isinstance(login, LoginResponse), login
    upload = await client.keys_upload()
    assert isinstance(upload, KeysUploadResponse), upload
    return client


def make_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def ed25519_of(client: AsyncClient) -> str:
    assert client.olm is not None
    key: str = client.olm.account.identity_keys["ed25519"]
    return key


def device_of(client: AsyncClient) -> str:
    assert client.device_id
    return client.device_id


async def close(client: AsyncClient) -> None:
    await client.close()  # type: ignore[no-untyped-call]


async def bootstrap(
    session: aiohttp.ClientSession,
    synapse: Synapse,
    client: AsyncClient,
    account: Account,
    keys_path: Path,
    *,
    password: str | None = None,
    secret: str = SECRET,
) -> None:
    assert client.access_token
    assert client.device_id
    await ensure_cross_signed(
        session,
        synapse.url,
        client.access_token,
        account.user_id,
        client.device_id,
        password,
        keys_path,
        secret,
        device_ed25519=ed25519_of(client),
    )


async def query_as_other_user(synapse: Synapse, user_id: str) -> dict[str, Any]:
    """/keys/query from a different user's brand-new session: nothing cached, nothing shared with the bot."""
    observer = new_account(synapse, "observer")
    async with (
        aiohttp.ClientSession() as fresh,
        fresh.post(
            f"{synapse.url}/_matrix/client/v3/keys/query",
            json={"device_keys": {user_id: []}},
            headers={"Authorization": f"Bearer {observer.access_token}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
    return result


def verified_chain(result: dict[str, Any], user_id: str, device_ids: list[str]) -> str:
    """Check master → self-signing → each device independently; return the master public key."""
    master = result["master_keys"][user_id]
    ssk = result["self_signing_keys"][user_id]
    assert master["user_id"] == user_id
    assert master["usage"] == ["master"]
    assert ssk["user_id"] == user_id
    assert ssk["usage"] == ["self_signing"]
    master_id, master_public = only_key(master)
    ssk_id, ssk_public = only_key(ssk)
    assert signed_by(ssk, user_id, master_id, master_public), "self-signing key is not signed by the master key"
    for device_id in device_ids:
        device = result["device_keys"][user_id][device_id]
        own_ed25519 = device["keys"][f"ed25519:{device_id}"]
        assert signed_by(device, user_id, f"ed25519:{device_id}", own_ed25519), "device keys are not self-signed"
        assert signed_by(device, user_id, ssk_id, ssk_public), f"device {device_id} is not signed by the self-signing key"
    return master_public


# --------------------------------------------------------------------------- tests


async def test_bootstrap_is_verifiable_idempotent_and_signs_new_devices(
    synapse: Synapse, tmp_path: Path, session: aiohttp.ClientSession, requests: Requests
) -> None:
    account = new_account(synapse, "bot")
    keys_path = tmp_path / "cross_signing.keys"
    first = await nio_device(synapse, account, make_dir(tmp_path / "store1"))
    try:
        # No password: the first upload of cross-signing keys needs no user-interactive auth (MSC3967).
        await bootstrap(session, synapse, first, account, keys_path)
        assert requests.seen == [
            "POST /_matrix/client/v3/keys/query",
            "POST /_matrix/client/v3/keys/device_signing/upload",
            "POST /_matrix/client/v3/keys/signatures/upload",
        ]
        keys = load_keys(keys_path, SECRET)
        result = await query_as_other_user(synapse, account.user_id)
        assert verified_chain(result, account.user_id, [device_of(first)]) == keys.master_public_key
        assert only_key(result["self_signing_keys"][account.user_id])[1] == keys.self_signing_public_key

        # Again: only a query, nothing uploaded, nothing changed.
        requests.seen.clear()
        await bootstrap(session, synapse, first, account, keys_path)
        assert requests.seen == ["POST /_matrix/client/v3/keys/query"]
        again = await query_as_other_user(synapse, account.user_id)
        assert again["master_keys"] == result["master_keys"]
        assert again["self_signing_keys"] == result["self_signing_keys"]
        assert again["device_keys"][account.user_id][device_of(first)] == result["device_keys"][account.user_id][device_of(first)]

        # A new device (new login, new device id) is signed with the same saved keys.
        second = await nio_device(synapse, account, make_dir(tmp_path / "store2"))
        try:
            assert second.device_id != first.device_id
            requests.seen.clear()
            await bootstrap(session, synapse, second, account, keys_path)
            assert requests.seen == ["POST /_matrix/client/v3/keys/query", "POST /_matrix/client/v3/keys/signatures/upload"]
            after = await query_as_other_user(synapse, account.user_id)
            assert verified_chain(after, account.user_id, [device_of(first), device_of(second)]) == keys.master_public_key
            assert load_keys(keys_path, SECRET) == keys
        finally:
            await close(second)
    finally:
        await close(first)


async def test_replacing_an_identity_needs_the_password(synapse: Synapse, tmp_path: Path, session: aiohttp.ClientSession) -> None:
    account = new_account(synapse, "bot")
    client = await nio_device(synapse, account, make_dir(tmp_path / "store"))
    try:
        await bootstrap(session, synapse, client, account, tmp_path / "old.keys")
        old_master = load_keys(tmp_path / "old.keys", SECRET).master_public_key

        # The key file is lost: new keys are generated, and Synapse wants UIA to replace the published ones.
        new_path = tmp_path / "new.keys"
        with pytest.raises(CrossSigningError, match="password") as no_password:
            await bootstrap(session, synapse, client, account, new_path)
        assert "device_signing/upload" in str(no_password.value)
        with pytest.raises(CrossSigningError, match="401") as wrong:
            await bootstrap(session, synapse, client, account, new_path, password="not the password")  # noqa: S106 - deliberately wrong
        assert "not the password" not in str(wrong.value)
        assert client.access_token not in str(wrong.value)
        result = await query_as_other_user(synapse, account.user_id)
        assert verified_chain(result, account.user_id, [device_of(client)]) == old_master

        await bootstrap(session, synapse, client, account, new_path, password=account.password)
        new_master = load_keys(new_path, SECRET).master_public_key
        assert new_master != old_master
        result = await query_as_other_user(synapse, account.user_id)
        assert verified_chain(result, account.user_id, [device_of(client)]) == new_master
    finally:
        await close(client)


async def test_device_without_uploaded_keys_is_refused(synapse: Synapse, tmp_path: Path, session: aiohttp.ClientSession) -> None:
    account = new_account(synapse, "bot")  # registration makes a device, but nobody uploaded its keys
    with pytest.raises(CrossSigningError, match="keys_upload"):
        await ensure_cross_signed(
            session, synapse.url, account.access_token, account.user_id, account.device_id, None, tmp_path / "keys", SECRET
        )


async def test_wrong_device_key_or_secret_is_refused_before_signing(
    synapse: Synapse, tmp_path: Path, session: aiohttp.ClientSession, requests: Requests
) -> None:
    account = new_account(synapse, "bot")
    client = await nio_device(synapse, account, make_dir(tmp_path / "store"))
    keys_path = tmp_path / "keys"
    try:
        assert client.access_token
        assert client.device_id
        with pytest.raises(CrossSigningError, match="refusing to cross-sign"):
            await ensure_cross_signed(
                session,
                synapse.url,
                client.access_token,
                account.user_id,
                client.device_id,
                None,
                keys_path,
                SECRET,
                device_ed25519="A" * 43,
            )
        assert "POST /_matrix/client/v3/keys/signatures/upload" not in requests.seen

        requests.seen.clear()
        with pytest.raises(CrossSigningError, match="secret is wrong"):
            await bootstrap(session, synapse, client, account, keys_path, secret="another secret")  # noqa: S106 - deliberately wrong
        assert requests.seen == []
    finally:
        await close(client)


async def test_bad_token_names_endpoint_and_errcode(synapse: Synapse, tmp_path: Path, session: aiohttp.ClientSession) -> None:
    token = "syt_not_a_real_token"  # noqa: S105 - deliberately invalid
    with pytest.raises(CrossSigningError, match=r"POST /keys/query: HTTP 401 M_UNKNOWN_TOKEN") as caught:
        await ensure_cross_signed(session, synapse.url, token, "@nobody:localhost", "NODEVICE", None, tmp_path / "keys", SECRET)
    assert token not in str(caught.value)
