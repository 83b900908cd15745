"""Matrix round-trip latency: campusbot against bare echo bots on one Synapse.

Starts a throwaway Synapse (``tests/matrix/synapse.py``) and, in the same run,
measures three bots, each its own process on the same homeserver:

- ``campusbot``: ``python -m campusbot run --config FILE``, secrets in the
  environment; every measured message is a real dialog turn ("status" and
  "hilfe" in turn) after the learner was onboarded (consent "ja", role "1",
  interests "keine", "später" at the check's introduction);
- ``nio_echo``: ``bench/echo_nio.py``, a bare matrix-nio bot that answers every
  message with an ``m.notice`` of the same body;
- ``mautrix_echo``: ``bench/echo_mautrix.py``, the same with mautrix-python
  (maubot's framework), run from its own virtualenv. This script creates it
  under ``--mautrix-venv`` (default ``/tmp/campusbot-bench-venv-mautrix``) with
  ``pip install 'mautrix[encryption]' asyncpg aiosqlite`` when it is missing.
  python-olm comes as a manylinux wheel on x86_64; where pip has to build it,
  install Debian's libolm-dev first: ``apt-get update && apt-get install -y libolm-dev``.

The learners are ``tests/matrix/learner.py``'s Element-like client: one opens
a plain DM with every bot, another an encrypted one (campusbot keeps one dialog
per Matrix user, so one learner in both kinds of room would share it).
Onboarding campusbot goes the Element way, which checks that campusbot's device
is cross-signed; the measured messages to every bot are sent with
``allow_unsigned=True`` (the echo bots are not cross-signed, and the
Element-like path would add a ``/keys/query`` round trip to every campusbot
message only).

Each bot is warmed up (``--warmup`` messages per mode), then measured with
``--messages`` sequential messages per mode in ``--blocks`` alternating blocks
(the order of bots and modes rotates from block to block). Latency is the time
from sending to the arrival, at the learner, of the first event of the bot's
reply; the next message goes out only after the whole reply arrived (campusbot's
reply is whole when it asks the open question again: as a new poll, or, while the
poll is open a few messages up, as text under its answer; ``reply_shapes_campusbot``
counts both, ``p50_by_shape_campusbot`` times them apart) (``p50_last_ms``: until its last event; ``p50_server_ms``: message to first
reply by Synapse's own timestamps, without the learner's side). CPU time
is utime+stime from ``/proc/<pid>/stat`` of each bot process (and of Synapse)
before and after its blocks.

Progress goes to stderr; the last line on stdout is one JSON object with
``{p50_ms, p95_ms, cpu_s_per_100, ...}`` per bot and mode and the ratios
``ratio_p50_plain`` and ``ratio_p50_encrypted`` (campusbot / nio echo),
``ratio_p50_plain_vs_mautrix`` and ``ratio_p50_encrypted_vs_mautrix``.

    python -m bench.matrix_latency [--messages 200] [--blocks 4] [--warmup 10]

Every wait is bounded and the whole run has a deadline (``--max-minutes``);
Synapse and the bots are stopped on every way out, SIGTERM included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import logging
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from nio import Event, MatrixRoom, MegolmEvent, UnknownEvent

from tests.matrix.learner import LearnerClient, poll_question, text_of
from tests.matrix.synapse import Account, Synapse

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"
MODES = ("plain", "encrypted")
BOTS = ("campusbot", "nio_echo", "mautrix_echo")
CAMPUSBOT_COMMANDS = ("status", "hilfe")
ONBOARDING = ("ja", "1", "keine", "später")
STORE_SECRET = "campusbot-bench-store-secret-" + secrets.token_hex(8)
DEFAULT_VENV = Path(tempfile.gettempdir()) / "campusbot-bench-venv-mautrix"  # a cache, reused by later runs
MAUTRIX_REQUIREMENTS = ("mautrix[encryption]", "asyncpg", "aiosqlite")
START_TIMEOUT = 120.0  # a bot's first start: login, key upload, (campusbot) cross-signing
REPLY_TIMEOUT = 30.0
SETTLE_S = 1.0  # quiet time after which a reply counts as complete (warm-up only)
STOP_TIMEOUT = 15.0
PIP_TIMEOUT = 1200.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

_started = time.monotonic()


class BenchError(RuntimeError):
    """The benchmark cannot go on."""


def say(message: str) -> None:
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)) - 1, 0)]


# -- processes ----------------------------------------------------------------------------


class BotProcess:
    """One bot as its own process, logging to a file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, ready_file: Path | None) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.ready_file = ready_file
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.name} was not started")
        return self.process.pid

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise BenchError(f"{self.name} exited with code {code}\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        self.check_alive()
        return cpu_seconds(self.pid)

    async def wait_ready(self, timeout: float) -> None:  # noqa: ASYNC109
        if self.ready_file is None:
            return
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            self.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} was not ready within {timeout:.0f} s\n{self.log_tail()}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.log_path.name} ---\n" + "\n".join(tail)

    def tracebacks(self) -> int:
        return self.log_path.read_text(errors="replace").count("Traceback") if self.log_path.exists() else 0


def ensure_mautrix_venv(venv: Path) -> tuple[Path, str]:
    """The virtualenv's python with mautrix[encryption], asyncpg and aiosqlite, created if need be; and mautrix's version."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import mautrix, mautrix.crypto, olm, asyncpg, aiosqlite; print(mautrix.__version__)"]

    def version() -> str | None:
        if not python.exists():
            return None
        # cwd "/": nothing there shadows a module (running inside mautrix's folder would).
        result = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=False, cwd="/")
        return result.stdout.strip() if result.returncode == 0 else None

    found = version()
    if found:
        return python, found
    say(f"creating the mautrix virtualenv in {venv} (pip install {' '.join(MAUTRIX_REQUIREMENTS)})")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *MAUTRIX_REQUIREMENTS],
        capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False,
    )
    if result.returncode != 0:
        raise BenchError(
            f"pip install into {venv} failed; if python-olm could not be built, install Debian's libolm-dev "
            f"(apt-get update && apt-get install -y libolm-dev) and run again:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    found = version()
    if not found:
        raise BenchError(f"{venv} still cannot import mautrix.crypto, olm, asyncpg and aiosqlite")
    return python, found


def campusbot_revision() -> str:
    """The commit campusbot runs from, with "+changes" when tracked files differ from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"

    def run(*argv: str) -> str:
        return subprocess.run([git, *argv], cwd=REPO, capture_output=True, text=True, timeout=30, check=True).stdout.strip()

    try:
        head, changes = run("rev-parse", "--short", "HEAD"), run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if changes else "")


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CAMPUSBOT_")}


def campusbot_process(synapse: Synapse, account: Account, data_dir: Path) -> BotProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "campusbot.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\n'
        "[matrix]\n"
        f'homeserver = "{synapse.url}"\n'
        f'user_id = "{account.user_id}"\n'
        'device_name = "campusbot bench"\n'
        "[[tenants]]\n"
        'id = "benchkreis"\nname = "Benchkreis"\nstate = "HE"\n'
        f'servers = ["{synapse.server_name}"]\n'
        # The bench never asks the web server; left on, it would need port 8080 free.
        "[web]\nenabled = false\n"
    )
    env = {**clean_environment(), "CAMPUSBOT_MATRIX__PASSWORD": account.password, "CAMPUSBOT_MATRIX__STORE_SECRET": STORE_SECRET}
    argv = [sys.executable, "-m", "campusbot", "run", "--config", str(config)]
    return BotProcess("campusbot", argv, env, data_dir / "bot.log", None)


def echo_process(name: str, python: Path, script: Path, synapse: Synapse, account: Account, data_dir: Path) -> BotProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = data_dir / "ready"
    env = {**clean_environment(), "ECHO_PASSWORD": account.password}
    argv = [
        str(python), str(script), "--homeserver", synapse.url, "--user-id", account.user_id,
        "--store", str(data_dir / "store"), "--ready-file", str(ready),
    ]
    return BotProcess(name, argv, env, data_dir / "bot.log", ready)


# -- measuring ----------------------------------------------------------------------------


@dataclass
class Series:
    """Measured turns of one bot in one mode."""

    first_ms: list[float] = field(default_factory=list)
    last_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # Synapse's timestamps: message -> first reply event
    by_shape: dict[str, list[float]] = field(default_factory=dict)  # campusbot: reply shape -> first_ms
    cpu_s: float = 0.0
    synapse_cpu_s: float = 0.0
    wall_s: float = 0.0

    def summary(self, *, with_last: bool) -> dict[str, float | int]:
        n = len(self.first_ms)
        result: dict[str, float | int] = {
            "n": n,
            "p50_ms": round(statistics.median(self.first_ms), 2),
            "p95_ms": round(percentile(self.first_ms, 95), 2),
            "max_ms": round(max(self.first_ms), 2),
            "p50_server_ms": round(statistics.median(self.server_ms), 1) if self.server_ms else -1,
            "cpu_s_per_100": round(self.cpu_s / n * 100, 3),
            "synapse_cpu_s_per_100": round(self.synapse_cpu_s / n * 100, 3),
            "wall_s": round(self.wall_s, 2),
        }
        if with_last:
            result["p50_last_ms"] = round(statistics.median(self.last_ms), 2)
            result["p95_last_ms"] = round(percentile(self.last_ms, 95), 2)
        return result

    def shapes(self) -> dict[str, dict[str, float | int]]:
        """How long replies of each shape took to their first event."""
        return {
            shape: {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2)}
            for shape, ms in sorted(self.by_shape.items())
        }


@dataclass
class Target:
    key: str
    process: BotProcess
    account: Account
    rooms: dict[str, str] = field(default_factory=dict)  # mode -> room id
    questions: dict[str, str] = field(default_factory=dict)  # campusbot: mode -> its open question
    reply_shapes: dict[str, int] = field(default_factory=dict)  # the events of each measured reply -> how often
    sent: int = 0
    series: dict[str, Series] = field(default_factory=lambda: {mode: Series() for mode in MODES})

    @property
    def is_campusbot(self) -> bool:
        return self.key == "campusbot"

    def next_text(self) -> str:
        self.sent += 1
        if self.is_campusbot:
            return CAMPUSBOT_COMMANDS[self.sent % len(CAMPUSBOT_COMMANDS)]
        return f"echo {self.sent} {secrets.token_hex(4)}"


class Bench:
    def __init__(self, args: argparse.Namespace, synapse: Synapse, learners: dict[str, LearnerClient], targets: list[Target]) -> None:
        self.args = args
        self.synapse = synapse
        self.synapse_pid = read_synapse_pid(synapse)
        self.learners = learners  # mode -> the learner who talks to every bot in that mode
        self.targets = targets
        self.arrivals: dict[str, float] = {}
        self.server_ts: dict[str, int] = {}  # event id -> origin_server_ts
        for learner in learners.values():
            learner.client.add_event_callback(self._record_arrival, Event)

    def _record_arrival(self, room: MatrixRoom, event: Event) -> None:
        self.server_ts.setdefault(event.event_id, event.server_timestamp)
        # Undecryptable events are timed when wait_for_messages returns them decrypted.
        if not isinstance(event, MegolmEvent):
            self.arrivals.setdefault(event.event_id, time.perf_counter())

    async def until_poll(self, learner: LearnerClient, room_id: str, timeout: float) -> list[Event]:  # noqa: ASYNC109
        """Consume events up to and including the next poll start."""
        deadline = time.monotonic() + timeout
        events: list[Event] = []
        while True:
            [event] = await learner.wait_for_messages(room_id, 1, timeout=max(deadline - time.monotonic(), 0.1))
            events.append(event)
            if isinstance(event, UnknownEvent) and event.type == POLL_START:
                return events

    async def settle(self, learner: LearnerClient, room_id: str, quiet: float = SETTLE_S) -> list[Event]:
        """Events that still arrive until none came for ``quiet`` seconds (bounded by REPLY_TIMEOUT)."""
        events: list[Event] = []
        deadline = time.monotonic() + REPLY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                events += await learner.wait_for_messages(room_id, 1, timeout=quiet)
            except TimeoutError:
                return events
        raise BenchError(f"{room_id} did not fall quiet within {REPLY_TIMEOUT:.0f} s")

    async def onboard(self, target: Target, mode: str) -> None:
        learner, room_id = self.learners[mode], target.rooms[mode]
        events = await self.until_poll(learner, room_id, START_TIMEOUT)  # greeting and consent
        say(f"campusbot {mode}: (join) -> {describe(events)}")
        for answer in ONBOARDING:
            # The Element-like path: in an encrypted room this checks campusbot's cross-signing.
            await learner.send_text(room_id, answer)
            events = await self.until_poll(learner, room_id, REPLY_TIMEOUT)
            say(f"campusbot {mode}: {answer!r} -> {describe(events)}")
        target.questions[mode] = poll_question(events[-1])
        # campusbot ends a poll after it has sent the next question, so one poll end may trail.
        extra = [e for e in await self.settle(learner, room_id) if event_kind(e) != POLL_END]
        if extra:
            raise BenchError(f"unexpected events after onboarding: {[text_of(e)[:60] for e in extra]}")

    async def reply(self, target: Target, mode: str) -> list[Event]:
        """The bot's events up to its complete reply: an echo is one event; campusbot's reply is
        complete when it asks the open question again, as a new poll or as text under its answer
        (trailing ends of earlier polls are bookkeeping and may arrive in between)."""
        learner, room_id = self.learners[mode], target.rooms[mode]
        deadline = time.monotonic() + REPLY_TIMEOUT
        events: list[Event] = []
        while True:
            [event] = await learner.wait_for_messages(room_id, 1, timeout=max(deadline - time.monotonic(), 0.1))
            events.append(event)
            if not target.is_campusbot:
                return events
            if isinstance(event, UnknownEvent) and event.type == POLL_START:
                target.questions[mode] = poll_question(event)
                return events
            if event_kind(event) != POLL_END and target.questions[mode] in text_of(event):
                return events

    async def turn(self, target: Target, mode: str) -> tuple[float, float, float | None, str]:
        """One message and its whole reply; returns the latency of its first and last event in ms,
        the time from the message to the first reply event by Synapse's timestamps (None if unknown)
        and the reply's shape."""
        learner, room_id = self.learners[mode], target.rooms[mode]
        text = target.next_text()
        t0 = time.perf_counter()
        sent_id = await learner.send_text(room_id, text, allow_unsigned=True)
        try:
            events = await self.reply(target, mode)
        except TimeoutError as error:
            raise BenchError(f"{target.key} {mode}: no complete reply to {text!r}: {error}\n{target.process.log_tail()}") from None
        returned = time.perf_counter()
        answer = [e for e in events if event_kind(e) != POLL_END]
        self.check_reply(target, text, answer)
        shape = " + ".join(event_kind(e) for e in answer)
        target.reply_shapes[shape] = target.reply_shapes.get(shape, 0) + 1
        first = self.arrivals.get(answer[0].event_id, returned) - t0
        last = self.arrivals.get(answer[-1].event_id, returned) - t0
        sent_ts, reply_ts = self.server_ts.get(sent_id), self.server_ts.get(answer[0].event_id)
        server = None if sent_ts is None or reply_ts is None else float(reply_ts - sent_ts)
        return first * 1000, last * 1000, server, shape

    @staticmethod
    def check_reply(target: Target, text: str, events: list[Event]) -> None:
        first = events[0]
        if first.sender != target.account.user_id:
            raise BenchError(f"reply from {first.sender}, not {target.account.user_id}")
        content = first.source.get("content", {})
        if content.get("msgtype") != "m.notice":
            raise BenchError(f"{target.key}: the reply to {text!r} starts with {first.source.get('type')} {content.get('msgtype')}")
        if not target.is_campusbot and text_of(first) != text:
            raise BenchError(f"{target.key} echoed {text_of(first)!r} for {text!r}")

    async def warm_up(self, target: Target, mode: str) -> None:
        for _ in range(self.args.warmup):
            await self.turn(target, mode)
        extra = [e for e in await self.settle(self.learners[mode], target.rooms[mode]) if event_kind(e) != POLL_END]
        if extra:
            raise BenchError(f"{target.key} sent more than expected: {[text_of(e)[:60] for e in extra]}")
        target.reply_shapes.clear()

    async def block(self, target: Target, mode: str, messages: int) -> None:
        series = target.series[mode]
        cpu0, synapse0, wall0 = target.process.cpu_seconds(), cpu_seconds(self.synapse_pid), time.perf_counter()
        for _ in range(messages):
            first, last, server, shape = await self.turn(target, mode)
            series.by_shape.setdefault(shape, []).append(first)
            series.first_ms.append(first)
            series.last_ms.append(last)
            if server is not None:
                series.server_ms.append(server)
        series.wall_s += time.perf_counter() - wall0
        series.cpu_s += target.process.cpu_seconds() - cpu0
        series.synapse_cpu_s += cpu_seconds(self.synapse_pid) - synapse0
        # Nothing may be left over for the next turn but the end of an answered poll, which
        # campusbot sends once the room has been quiet for a moment (outside the measured time).
        quiet = 0.05 if not target.is_campusbot else 1.0
        extra = [e for e in await self.settle(self.learners[mode], target.rooms[mode], quiet=quiet) if event_kind(e) != POLL_END]
        if extra:
            raise BenchError(f"{target.key} {mode}: events left over after a block: {describe(extra)}")


def describe(events: list[Event]) -> list[str]:
    return [f"{event_kind(e)}: {text_of(e)[:40]!r}" for e in events]


def event_kind(event: Event) -> str:
    kind = str(event.source.get("type", type(event).__name__))
    msgtype = event.source.get("content", {}).get("msgtype")
    return f"{kind}/{msgtype}" if msgtype else kind


def read_synapse_pid(synapse: Synapse) -> int:
    """The pid of this run's Synapse: our child whose command line names its configuration."""
    wanted = str(synapse.config_path)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == os.getpid() and wanted.encode() in argv:
            return int(proc.name)
    raise BenchError(f"no Synapse process with {wanted} found")


def block_sizes(total: int, blocks: int) -> list[int]:
    base, extra = divmod(total, blocks)
    return [base + (1 if index < extra else 0) for index in range(blocks)]


async def run_bench(
    args: argparse.Namespace, work: Path, synapse: Synapse, targets: list[Target], learner_accounts: dict[str, Account],
) -> dict[str, Any]:
    for target in targets:
        await target.process.wait_ready(START_TIMEOUT)
    learners: dict[str, LearnerClient] = {}
    try:
        for mode in MODES:
            learners[mode] = await LearnerClient.create(synapse.url, learner_accounts[mode], work / f"learner-{mode}")
        bench = Bench(args, synapse, learners, targets)
        setup_started = time.monotonic()
        for target in targets:
            for mode in MODES:
                say(f"{target.key}: opening a {mode} DM")
                room_id = await learners[mode].open_dm(target.account.user_id, encrypted=mode == "encrypted", timeout=START_TIMEOUT)
                target.rooms[mode] = room_id
                if target.is_campusbot:
                    await bench.onboard(target, mode)
                    say(f"campusbot: learner onboarded in the {mode} DM")
        for target in targets:
            for mode in MODES:
                await bench.warm_up(target, mode)
            say(f"{target.key}: warmed up")
        setup_s = time.monotonic() - setup_started

        measure_started = time.monotonic()
        sizes = block_sizes(args.messages, args.blocks)
        for number, size in enumerate(sizes):
            modes = MODES if number % 2 == 0 else MODES[::-1]
            order = targets[number % len(targets) :] + targets[: number % len(targets)]
            for mode in modes:
                for target in order:
                    await bench.block(target, mode, size)
                    series = target.series[mode]
                    say(
                        f"block {number + 1}/{len(sizes)} {target.key:12s} {mode:9s}: {size} messages, "
                        f"p50 so far {statistics.median(series.first_ms):6.1f} ms"
                    )
        measure_s = time.monotonic() - measure_started
    finally:
        for learner in learners.values():
            await learner.close()
            if learner.sync_errors:
                say(f"{learner.user_id}: sync errors {learner.sync_errors[:3]}")
    return {"setup_s": round(setup_s, 1), "measure_s": round(measure_s, 1)}


def result_json(targets: list[Target], timings: dict[str, Any], versions: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    by_key = {t.key: t for t in targets}
    result: dict[str, Any] = {"messages_per_bot_and_mode": args.messages, "blocks": args.blocks, "warmup": args.warmup}
    for target in targets:
        result[target.key] = {mode: target.series[mode].summary(with_last=target.is_campusbot) for mode in MODES}
    campus, nio_echo, mautrix_echo = (by_key[key].series for key in BOTS)

    def ratio(a: Series, b: Series) -> float:
        return round(statistics.median(a.first_ms) / statistics.median(b.first_ms), 2)

    result["ratio_p50_plain"] = ratio(campus["plain"], nio_echo["plain"])
    result["ratio_p50_encrypted"] = ratio(campus["encrypted"], nio_echo["encrypted"])
    result["ratio_p50_plain_vs_mautrix"] = ratio(campus["plain"], mautrix_echo["plain"])
    result["ratio_p50_encrypted_vs_mautrix"] = ratio(campus["encrypted"], mautrix_echo["encrypted"])
    result["reply_shapes_campusbot"] = by_key["campusbot"].reply_shapes
    result["p50_by_shape_campusbot"] = {mode: campus[mode].shapes() for mode in MODES}
    result.update(timings)
    result["versions"] = versions
    result["cpus"] = os.cpu_count()
    return result


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up below


@contextlib.contextmanager
def stopping(process: BotProcess) -> Iterator[BotProcess]:
    try:
        yield process
    finally:
        process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200, help="measured messages per bot and mode")
    parser.add_argument("--blocks", type=int, default=4, help="alternating blocks the messages are split into")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured messages per bot and mode first")
    parser.add_argument("--mautrix-venv", type=Path, default=DEFAULT_VENV, help="virtualenv for echo_mautrix.py (created if missing)")
    parser.add_argument("--max-minutes", type=float, default=40.0, help="deadline for the whole measurement")
    parser.add_argument("--keep", type=Path, help="work in this (new) folder and keep it: logs, stores, Synapse")
    args = parser.parse_args()
    if args.messages < args.blocks or args.blocks < 1 or args.warmup < 2 * len(CAMPUSBOT_COMMANDS):
        parser.error(f"need messages >= blocks >= 1 and warmup >= {2 * len(CAMPUSBOT_COMMANDS)}")
    logging.getLogger("nio").setLevel(logging.ERROR)  # the learners' crypto chatter ("Missing session for device ...")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    mautrix_python, mautrix_version = ensure_mautrix_venv(args.mautrix_venv)
    versions = {
        "python": sys.version.split()[0],
        "matrix-nio": importlib.metadata.version("matrix-nio"),
        "matrix-synapse": importlib.metadata.version("matrix-synapse"),
        "mautrix": mautrix_version,
        "campusbot": campusbot_revision(),
    }
    say(f"versions: {versions}")
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=False)
            work = args.keep.resolve()
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="campusbot-bench-")))
        synapse = Synapse(work / "synapse")
        stack.callback(synapse.stop)
        say("starting Synapse")
        synapse.start()
        say(f"Synapse up at {synapse.url} in {synapse.start_seconds:.1f} s")
        admin = synapse.register("bench-admin", admin=True)
        # One learner per mode: campusbot keeps one dialog per Matrix user, whatever the room.
        learners = {mode: synapse.register(f"learner-{mode}") for mode in MODES}
        accounts = {key: synapse.register(key.replace("_", "-")) for key in BOTS}
        for account in (*learners.values(), *accounts.values()):
            synapse.lift_ratelimit(admin, account.user_id)
        processes = {
            "campusbot": campusbot_process(synapse, accounts["campusbot"], work / "campusbot"),
            "nio_echo": echo_process("nio_echo", Path(sys.executable), BENCH / "echo_nio.py", synapse, accounts["nio_echo"], work / "nio"),
            "mautrix_echo": echo_process(
                "mautrix_echo", mautrix_python, BENCH / "echo_mautrix.py", synapse, accounts["mautrix_echo"], work / "mautrix",
            ),
        }
        targets: list[Target] = []
        for key in BOTS:
            process = stack.enter_context(stopping(processes[key]))
            process.start()
            say(f"{key}: started, pid {process.pid}")
            targets.append(Target(key, process, accounts[key]))

        async def bounded() -> dict[str, Any]:
            deadline = asyncio.timeout(args.max_minutes * 60)
            try:
                async with deadline:
                    return await run_bench(args, work, synapse, targets, learners)
            except TimeoutError:
                if deadline.expired():
                    raise BenchError(f"the run took longer than {args.max_minutes} minutes") from None
                raise

        try:
            timings = asyncio.run(bounded())
        except BaseException:
            for target in targets:
                say(target.process.log_tail(15))
            raise
        for target in targets:
            if target.process.tracebacks():
                say(f"{target.key} logged a traceback:\n{target.process.log_tail()}")
        result = result_json(targets, timings, versions, args)
    result["total_s"] = round(time.monotonic() - _started, 1)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
