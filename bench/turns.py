"""1,000 learners doing full dialog turns against a SQLite file store in one process.

Every turn is what a channel does: hand the message to the turn service (one
transaction: dedupe, state, outbox) and drain the learner's outbox. Learners
take turns round-robin, each walking the journey from greeting through the
competency check and plan to a unit with evaluation and quiz.

Prints one JSON object as its last line: turns, turns_per_s, p50_ms, p99_ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from campusbot.app import build_core
from campusbot.channels.memory import MemoryChannel
from campusbot.config import Settings


def script(check_items: int) -> list[str]:
    """What every learner types: onboarding, the whole check, the plan, one unit with evaluation and quiz."""
    lines = ["Hallo", "ja", "1", "2, 7", "starten"]
    lines += [str(1 + i % 3) for i in range(check_items)]
    lines += ["annehmen", "status", "weiter", "fertig", "4", "-"]
    lines += ["1", "2"]  # quiz answers
    lines += ["plan", "1", "hilfe"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        core = build_core(Settings(data_dir=Path(tmp)), database_url=f"sqlite:///{tmp}/bench.sqlite3")
        channel = MemoryChannel(core.turns, core.store, core.clock)
        lines = script(len(core.engine.check.items))
        users = [f"learner-{n:05d}" for n in range(args.learners)]
        durations: list[float] = []
        unanswered = 0
        started = time.perf_counter()
        for line in lines:
            for user in users:
                t0 = time.perf_counter()
                reply = channel.deliver(user, line)
                durations.append(time.perf_counter() - t0)
                if not reply:
                    unanswered += 1
        elapsed = time.perf_counter() - started
        channel.sent.clear()

        # Sanity: the learners really went through the journey.
        with core.store.transaction() as tx:
            record = tx.find_learner(channel.name, users[-1])
        assert record is not None
        assert record.state.check_done_at is not None
        assert record.state.progress, "no learner reached a unit"

    durations.sort()
    result = {
        "learners": args.learners,
        "turns": len(durations),
        "unanswered": unanswered,
        "turns_per_s": round(len(durations) / elapsed, 1),
        "p50_ms": round(statistics.median(durations) * 1000, 3),
        "p99_ms": round(durations[int(len(durations) * 0.99) - 1] * 1000, 3),
        "max_ms": round(durations[-1] * 1000, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
