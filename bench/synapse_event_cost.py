"""What Synapse spends on one bot message, by the shape of its content.

Starts a throwaway Synapse (``tests/matrix/synapse.py``), opens an unencrypted DM
between two users and sends ``--messages`` rounds of messages from one of them,
each round one message of every shape, in turn, over one keep-alive connection.
A PUT returns once Synapse has created and stored the event, so its round trip is
what the event costs before anyone can see it. The shapes:

- ``echo``: an ``m.notice`` with a short body, what the echo bots of
  ``bench/matrix_latency.py`` send;
- ``campusbot``: a campusbot notice (``render.notice_content``: body,
  ``formatted_body`` and an empty ``m.mentions``);
- ``campusbot_without_mentions``: the same without ``m.mentions``;
- ``campusbot_body_only``: only ``msgtype`` and ``body``;
- ``encrypted``: an ``m.room.encrypted`` event of the size of an encrypted
  campusbot notice (Synapse sees none of its content).

Prints one JSON object as its last line: p50 and mean round trip in ms per shape,
and ``mentions_cost_ms`` (p50 of ``campusbot`` minus p50 of
``campusbot_without_mentions``).

    python -m bench.synapse_event_cost [--messages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from campusbot.channels.matrix.render import notice_content
from tests.matrix.synapse import Synapse

HELP = "So sprechen Sie mit mir:\n" + "\n".join(f"- „wort{n}“: eine kurze Erklärung zu diesem Befehl" for n in range(9))


def shapes() -> dict[str, tuple[str, dict[str, Any]]]:
    notice = notice_content(HELP)
    return {
        "echo": ("m.room.message", {"msgtype": "m.notice", "body": "echo 12 3f9a0c1d"}),
        "campusbot": ("m.room.message", notice),
        "campusbot_without_mentions": ("m.room.message", {k: v for k, v in notice.items() if k != "m.mentions"}),
        "campusbot_body_only": ("m.room.message", {"msgtype": "m.notice", "body": notice["body"]}),
        "encrypted": ("m.room.encrypted", {
            "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "A" * 2000, "device_id": "BENCHDEVICE",
            "sender_key": "k" * 43, "session_id": "s" * 43,
        }),
    }


async def measure(synapse: Synapse, rounds: int) -> dict[str, list[float]]:
    sender, receiver = synapse.register("sender"), synapse.register("receiver")
    created = synapse.request(
        "POST", "/_matrix/client/v3/createRoom", token=sender.access_token,
        json={"is_direct": True, "invite": [receiver.user_id], "preset": "trusted_private_chat"},
    )
    room_id = created["room_id"]
    synapse.request("POST", f"/_matrix/client/v3/join/{room_id}", token=receiver.access_token, json={})
    times: dict[str, list[float]] = {name: [] for name in shapes()}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {sender.access_token}"}) as session:
        for number in range(rounds):
            for name, (event_type, content) in shapes().items():
                url = f"{synapse.url}/_matrix/client/v3/rooms/{room_id}/send/{event_type}/{uuid.uuid4().hex}"
                started = time.perf_counter()
                async with session.put(url, json=content) as response:
                    if response.status != 200:
                        raise RuntimeError(f"{name}: {response.status} {await response.text()}")
                times[name].append((time.perf_counter() - started) * 1000)
            if (number + 1) % 100 == 0:
                print(f"{number + 1}/{rounds} rounds", file=sys.stderr, flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300, help="rounds (one message of every shape each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="campusbot-event-cost-") as tmp, Synapse(Path(tmp)) as synapse:
        times = asyncio.run(measure(synapse, args.messages))
    result: dict[str, Any] = {"rounds": args.messages}
    for name, values in times.items():
        result[name] = {"p50_ms": round(statistics.median(values), 2), "mean_ms": round(statistics.mean(values), 2)}
    result["mentions_cost_ms"] = round(result["campusbot"]["p50_ms"] - result["campusbot_without_mentions"]["p50_ms"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
