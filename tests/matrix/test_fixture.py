"""The Synapse fixture and the Element-like learner client work end to end."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nio import RoomMessageText, UnknownEvent

from tests.matrix.conftest import MakeLearner, Register
from tests.matrix.learner import (
    POLL_RESPONSE_STABLE,
    POLL_RESPONSE_UNSTABLE,
    LearnerClient,
    UnsignedDevice,
    cross_signing_problem,
    public_b64,
    sign,
    text_of,
)
from tests.matrix.synapse import HttpError, Synapse

POLL_EXAMPLES = Path("/work/shared/corpora/matrix/polls_msc3381")


async def dm_between(alice: LearnerClient, bob: LearnerClient, *, encrypted: bool) -> str:
    """Alice opens a DM with Bob, who accepts the invitation."""
    opening = asyncio.create_task(alice.open_dm(bob.user_id, encrypted=encrypted))
    try:
        room_id = await bob.wait_for_invite()
        await bob.join(room_id)
        assert await asyncio.wait_for(opening, timeout=20) == room_id
    finally:
        if not opening.done():
            opening.cancel()
    await alice.wait_for_member(room_id, bob.user_id)
    return room_id


def test_synapse_answers(synapse: Synapse) -> None:
    versions = synapse.request("GET", "/_matrix/client/versions")
    assert "v1.1" in versions["versions"]
    assert synapse.url == f"http://127.0.0.1:{synapse.port}"
    assert synapse.server_name == "localhost"
    assert synapse.start_seconds is not None
    assert synapse.start_seconds < 60
    # No federation listener: the federation API is not served.
    with pytest.raises(HttpError) as missing:
        synapse.request("GET", "/_matrix/federation/v1/version")
    assert missing.value.status in (400, 404)


def test_registered_accounts_are_unique_and_usable(synapse: Synapse, register: Register) -> None:
    admin = register("admin", admin=True)
    first, second = register("learner"), register("learner")
    assert first.user_id != second.user_id
    assert first.user_id.endswith(":localhost")
    assert synapse.request("GET", "/_matrix/client/v3/account/whoami", token=first.access_token)["device_id"] == first.device_id
    synapse.lift_ratelimit(admin, first.user_id)
    path = f"/_synapse/admin/v1/users/{first.user_id}/override_ratelimit"
    assert synapse.admin_request("GET", path, admin.access_token) == {"messages_per_second": 0, "burst_count": 0}
    with pytest.raises(HttpError) as forbidden:
        synapse.admin_request("GET", path, second.access_token)
    assert forbidden.value.status == 403


async def test_plain_dm_round_trip(make_learner: MakeLearner) -> None:
    alice, bob = await make_learner(), await make_learner()
    room_id = await dm_between(alice, bob, encrypted=False)

    sent = await alice.send_text(room_id, "Hallo Bob")
    (received,) = await bob.wait_for_messages(room_id, 1)
    assert isinstance(received, RoomMessageText)
    assert received.event_id == sent
    assert received.body == "Hallo Bob"
    assert received.source["type"] == "m.room.message"
    assert received.source["content"] == {"msgtype": "m.text", "body": "Hallo Bob", "m.mentions": {}}

    await bob.send_text(room_id, "Hallo Alice")
    reply = await alice.expect_text(room_id, "Alice")
    assert reply.sender == bob.user_id
    with pytest.raises(TimeoutError):
        await alice.wait_for_messages(room_id, 1, timeout=0.3)
    direct = await alice.request("GET", f"/_matrix/client/v3/user/{alice.user_id}/account_data/m.direct")
    assert direct == {bob.user_id: [room_id]}


async def test_encrypted_dm_refuses_devices_without_cross_signing(make_learner: MakeLearner) -> None:
    alice, bob = await make_learner(), await make_learner()
    room_id = await dm_between(alice, bob, encrypted=True)
    assert alice.client.rooms[room_id].encrypted

    assert not await alice.verify_cross_signing(bob.user_id, bob.device_id)
    with pytest.raises(UnsignedDevice) as refused:
        await alice.send_text(room_id, "geheim")
    assert (refused.value.user_id, refused.value.device_id) == (bob.user_id, bob.device_id)
    assert "master" in refused.value.reason
    with pytest.raises(TimeoutError):
        await bob.wait_for_messages(room_id, 1, timeout=0.5)


async def test_encrypted_dm_round_trip_with_unsigned_devices_allowed(make_learner: MakeLearner) -> None:
    alice, bob = await make_learner(), await make_learner()
    room_id = await dm_between(alice, bob, encrypted=True)

    await alice.send_text(room_id, "verschlüsselt hin", allow_unsigned=True)
    (received,) = await bob.wait_for_messages(room_id, 1)
    assert isinstance(received, RoomMessageText)
    assert received.decrypted
    assert received.body == "verschlüsselt hin"
    assert received.source["type"] == "m.room.message"

    await bob.send_text(room_id, "verschlüsselt zurück", allow_unsigned=True)
    back = await alice.expect_text(room_id, "zurück")
    assert back.decrypted


async def test_encrypted_dm_to_a_cross_signed_device(make_learner: MakeLearner) -> None:
    alice, bob = await make_learner(), await make_learner()
    await bob.bootstrap_cross_signing()
    room_id = await dm_between(alice, bob, encrypted=True)

    assert await alice.verify_cross_signing(bob.user_id, bob.device_id)
    assert not await alice.verify_cross_signing(bob.user_id, "NOSUCHDEVICE")
    await alice.send_text(room_id, "nur für geprüfte Geräte")
    assert alice.client.device_store[bob.user_id][bob.device_id].verified
    (received,) = await bob.wait_for_messages(room_id, 1)
    assert isinstance(received, RoomMessageText)
    assert received.decrypted
    assert received.body == "nur für geprüfte Geräte"


@pytest.mark.parametrize("stable", [False, True])
async def test_poll_responses_have_the_msc3381_shapes(make_learner: MakeLearner, stable: bool) -> None:
    alice, bob = await make_learner(), await make_learner()
    room_id = await dm_between(alice, bob, encrypted=False)
    example = json.loads((POLL_EXAMPLES / "unstable_org.matrix.msc3381.poll.start.json").read_text())
    poll_id = await bob.send(room_id, example["type"], example["content"])
    (poll,) = await alice.wait_for_messages(room_id, 1)
    assert isinstance(poll, UnknownEvent)
    assert poll.type == "org.matrix.msc3381.poll.start"
    assert text_of(poll).startswith("What should we order")

    name = "stable_m.poll.response.json" if stable else "unstable_org.matrix.msc3381.poll.response.json"
    reference = json.loads((POLL_EXAMPLES / name).read_text())
    reference["content"]["m.relates_to"]["event_id"] = poll_id
    answers = reference["content"]["m.selections"] if stable else reference["content"][POLL_RESPONSE_UNSTABLE]["answers"]

    await alice.send_poll_response(room_id, poll_id, answers, stable=stable)
    (response,) = await bob.wait_for_messages(room_id, 1)
    assert isinstance(response, UnknownEvent)
    assert response.type == reference["type"] == (POLL_RESPONSE_STABLE if stable else POLL_RESPONSE_UNSTABLE)
    assert response.source["content"] == reference["content"]


def _signed_chain(user_id: str, device_id: str) -> dict[str, Any]:
    """A /keys/query answer with a valid chain device ← self-signing ← master."""
    master, ssk, device_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    m, s, d = public_b64(master), public_b64(ssk), public_b64(device_key)
    device: dict[str, Any] = {
        "user_id": user_id,
        "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"ed25519:{device_id}": d, f"curve25519:{device_id}": "x" * 43},
    }
    device = {**sign(device, user_id, device_key), "unsigned": {"device_display_name": "Element"}}
    # The device key signs as "ed25519:<device id>", not "ed25519:<public key>".
    device["signatures"][user_id] = {f"ed25519:{device_id}": device["signatures"][user_id].pop(f"ed25519:{d}")}
    device = sign(device, user_id, ssk)
    return {
        "device_keys": {user_id: {device_id: device}},
        "master_keys": {user_id: {"user_id": user_id, "usage": ["master"], "keys": {f"ed25519:{m}": m}}},
        "self_signing_keys": {user_id: sign({"user_id": user_id, "usage": ["self_signing"], "keys": {f"ed25519:{s}": s}}, user_id, master)},
    }


def test_cross_signing_check_rejects_broken_chains() -> None:
    user, dev = "@bot:localhost", "BOTDEVICE"
    good = _signed_chain(user, dev)
    device_ed25519 = good["device_keys"][user][dev]["keys"][f"ed25519:{dev}"]
    assert cross_signing_problem(good, user, dev) is None
    assert cross_signing_problem(good, user, dev, device_ed25519) is None
    assert cross_signing_problem(good, user, dev, "A" * 43) == "device key differs from the one in the crypto store"

    tampered = copy.deepcopy(good)
    tampered["device_keys"][user][dev]["keys"][f"curve25519:{dev}"] = "y" * 43
    assert cross_signing_problem(tampered, user, dev) == "device keys are not signed by the device itself"

    other_ssk = copy.deepcopy(good)
    stranger = Ed25519PrivateKey.generate()
    ssk = other_ssk["self_signing_keys"][user]
    ssk["keys"] = {f"ed25519:{public_b64(stranger)}": public_b64(stranger)}
    assert cross_signing_problem(other_ssk, user, dev) == "self-signing key is not signed by the master key"

    resigned = copy.deepcopy(good)
    device = resigned["device_keys"][user][dev]
    device["signatures"][user] = {k: v for k, v in device["signatures"][user].items() if k == f"ed25519:{dev}"}
    assert cross_signing_problem(resigned, user, dev) == "device is not signed by its owner's self-signing key"

    no_master = {k: v for k, v in good.items() if k != "master_keys"}
    assert cross_signing_problem(no_master, user, dev) == "no master key published"
    assert cross_signing_problem(good, "@other:localhost", dev) == "no master key published"


def test_restart_keeps_accounts_and_port(synapse: Synapse, register: Register) -> None:
    account = register("survivor")
    port = synapse.port
    synapse.restart()
    assert synapse.port == port
    whoami = synapse.request("GET", "/_matrix/client/v3/account/whoami", token=account.access_token)
    assert whoami["user_id"] == account.user_id
    again = synapse.login(account.user_id, account.password)
    assert again.user_id == account.user_id
    assert again.device_id != account.device_id
    assert register("after-restart").user_id != account.user_id
