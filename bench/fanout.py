"""Push fan-out: 100,000 enrolled learners, 10,000 of them due in the same minute, one scheduler tick.

Every learner carries the state of a real learner driven through onboarding (consent, role,
interests, the competency check, the accepted plan; pushes at 09:00 on Tuesday and Thursday) and
the agenda rows that state implies: the push plus the tutorial and mandatory-training reminders,
all in the future except the push of the ``--due`` learners, which fell due at 09:00 local today
(``now`` is Tuesday 2027-01-12, 09:00:30 in Berlin: a working day in winter). The others' push
is next Thursday.

Measured is ``SchedulerRunner.tick()`` on a warm process (connected, one empty tick before):
claiming the due rows in batches, rendering the pushes, saving the states, moving the rows to
their next time and putting the messages into the outbox. On SQLite one process ticks; on
PostgreSQL (a throw-away server, ``tests/postgres.py``) two processes tick at the same moment
and the time runs from their release until both are done. Each run gets a fresh copy of the
loaded database (a file copy, a PostgreSQL template), once with ``--due`` and once with
``--small-due`` learners due, to show that a tick costs what is due, not what is enrolled.

Afterwards the outbox is checked: ``duplicates`` are learners with more than one push's messages,
``missing`` due learners with none, ``left_due`` rows still due after the tick. Peak RSS is the
high-water mark of each process (VmHWM; the loader and every ticking process).

Prints one JSON object as its last line: enrolled, due, sqlite_s, postgres_2workers_s,
duplicates, missing, peak_rss_mb and the details.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import queue
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from sqlalchemy import Engine, bindparam, func, insert, literal, select, text, update

from campusbot.app import build_core
from campusbot.channels.memory import MemoryChannel
from campusbot.config import Settings
from campusbot.core.clock import FixedClock
from campusbot.core.state import LearnerState, Step
from campusbot.scheduling.runner import SchedulerRunner, TickResult
from campusbot.storage.database import make_engine, upgrade
from campusbot.storage.rows import Base
from tests.postgres import PostgresServer

NOW = datetime(2027, 1, 12, 8, 0, 30, tzinfo=UTC)  # Tuesday 09:00:30 in Berlin
ZONE = ZoneInfo("Europe/Berlin")
PUSH_AT = clock_time(9, 0)
CHANNEL = "bench"
CHUNK = 5000
WARMUP = timedelta(hours=1)  # the empty tick before the measured one runs this much earlier
PROBLEMS = ("duplicates", "duplicate_rows", "missing", "incomplete", "unexpected", "left_due", "push_rows_not_moved")

_learner = Base.metadata.tables["learner"]
_identity = Base.metadata.tables["identity"]
_state = Base.metadata.tables["learner_state"]
_due = Base.metadata.tables["due_work"]
_outbox = Base.metadata.tables["outbox"]

_MAKE_DUE = (
    update(_due)
    .where(_due.c.learner_id == bindparam("lid"), _due.c.kind == "push", _due.c.ref == "")
    .values(due_at=bindparam("due"))
)
_DUE_STATE = update(_state).where(_state.c.learner_id == bindparam("lid")).values(data=bindparam("data"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def local_at(day: date) -> datetime:
    return datetime.combine(day, PUSH_AT, tzinfo=ZONE).astimezone(UTC)


def onboarding(check_items: int) -> list[str]:
    """Consent, role, two interests, the whole check, accept the plan (as bench/turns.py)."""
    return ["Hallo", "ja", "1", "2, 7", "starten", *(str(1 + i % 3) for i in range(check_items)), "annehmen"]


@dataclass(frozen=True, slots=True)
class Population:
    """What every learner looks like: one state document, two versions of its agenda."""

    enrolled_at: datetime
    waiting_json: str  # the push is next Thursday
    due_json: str  # the push fell due at 09:00 today
    rows: tuple[tuple[str, str, datetime], ...]  # the due-work rows of a waiting learner
    due_at: datetime
    messages_per_push: int

    @property
    def rows_per_learner(self) -> int:
        return len(self.rows)


def population(tmp: Path, *, push_row_only: bool) -> Population:
    """Drive one learner through onboarding a week ago and derive everyone's state from it."""
    enrolled_at = NOW - timedelta(days=7)
    clock = FixedClock(enrolled_at)
    core = build_core(Settings(data_dir=tmp), clock=clock, database_url=f"sqlite:///{tmp}/onboarding.sqlite3")
    channel = MemoryChannel(core.turns, core.store, core.clock)
    for line in onboarding(len(core.engine.check.items)):
        channel.deliver("learner", line)
    with core.store.transaction() as tx:
        record = tx.find_learner(channel.name, "learner")
    assert record is not None
    state = record.state
    assert state.consent_at is not None, "no consent after onboarding"
    assert state.plan_accepted, "no accepted plan after onboarding"
    assert state.plan, "an empty plan after onboarding"
    assert (state.push_time, state.push_days) == ("09:00", [1, 3]), (state.push_time, state.push_days)
    state.step = Step.IDLE
    state.push_open = False

    today = NOW.astimezone(ZONE).date()
    assert today.weekday() == 1, "NOW must be a Tuesday"
    due_at = local_at(today)
    later = local_at(today + timedelta(days=2))  # Thursday
    assert due_at <= NOW < later
    others = {} if push_row_only else {k: v for k, v in state.agenda.items() if not k.startswith("push|")}
    for key, value in others.items():
        assert datetime.fromisoformat(value) > NOW, f"{key} would be due as well"
    rows = [("push", "", later)]
    for key, value in others.items():
        kind, _, ref = key.partition("|")
        rows.append((kind, ref, datetime.fromisoformat(value).astimezone(UTC)))

    def dump(push: datetime) -> str:
        state.agenda = {"push|": push.isoformat(), **others}
        return json.dumps(state.to_dict(), ensure_ascii=False, separators=(",", ":"))

    waiting_json, due_json = dump(later), dump(due_at)
    # What one push says (a text and the choice), from the engine itself: more per learner is a duplicate.
    probe = LearnerState.from_dict(json.loads(due_json))
    per_push = len(core.engine.push(probe, NOW, core.tenants.get(None)))
    assert per_push > 0, "the learner would get no push"
    core.store.engine.dispose()
    return Population(enrolled_at, waiting_json, due_json, tuple(rows), due_at, per_push)


def chunks(total: int) -> Iterator[range]:
    for start in range(1, total + 1, CHUNK):
        yield range(start, min(start + CHUNK, total + 1))


def load(url: str, pop: Population, enrolled: int) -> float:
    """Migrate and fill an empty database with ``enrolled`` waiting learners; returns the seconds."""
    started = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # Only this loading connection skips syncing (the driver runs it outside a transaction).
            connection.connection.driver_connection.execute("PRAGMA synchronous=OFF")  # type: ignore[union-attr]
        with connection.begin():
            for ids in chunks(enrolled):
                at = pop.enrolled_at
                connection.execute(insert(_learner), [{"id": n, "created_at": at, "tenant_id": None} for n in ids])
                connection.execute(
                    insert(_identity),
                    [{"learner_id": n, "channel": CHANNEL, "external_id": f"@learner{n}:bench", "address": f"!room{n}", "created_at": at}
                     for n in ids],
                )
                connection.execute(insert(_state), [{"learner_id": n, "data": pop.waiting_json, "updated_at": at} for n in ids])
                if ids.stop > enrolled or (ids.stop - 1) % 50_000 == 0:
                    log(f"  loaded {ids.stop - 1:,} learners")
            # The agenda rows, the same for everyone: one INSERT ... SELECT per row instead of a million parameter sets.
            columns = _due.c.kind, _due.c.ref, _due.c.due_at
            for values in pop.rows:
                constants = [literal(value, column.type) for value, column in zip(values, columns, strict=True)]
                connection.execute(insert(_due).from_select(["learner_id", "kind", "ref", "due_at"], select(_learner.c.id, *constants)))
            if not sqlite:
                connection.execute(text("SELECT setval(pg_get_serial_sequence('learner', 'id'), :n)"), {"n": enrolled})
        if sqlite:  # the copies of this file must not need its WAL
            connection.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    if not sqlite:
        analyze(engine)
    engine.dispose()
    return time.perf_counter() - started


def analyze(engine: Engine) -> None:
    """What autovacuum does on a live PostgreSQL after a bulk change."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")


def due_ids(enrolled: int, due: int) -> list[int]:
    """``due`` learners spread evenly over the enrolled ones."""
    return [1 + i * enrolled // due for i in range(due)]


def make_due(url: str, pop: Population, ids: Sequence[int]) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(_MAKE_DUE, [{"lid": n, "due": pop.due_at} for n in ids])
        connection.execute(_DUE_STATE, [{"lid": n, "data": pop.due_json} for n in ids])
        waiting = connection.execute(select(func.count()).select_from(_due).where(_due.c.due_at <= NOW)).scalar_one()
    assert waiting == len(ids), (waiting, len(ids))
    if engine.dialect.name == "postgresql":
        analyze(engine)
    engine.dispose()


def peak_rss_mb() -> float:
    """This process's RSS high-water mark. VmHWM, since ru_maxrss of a spawned child also counts
    the parent it was (v)forked from before exec."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepared_runner(url: str, data_dir: Path, batch: int, state_json: str) -> tuple[SchedulerRunner, Engine]:
    """A scheduler as in a running process: connected, the claim compiled by an empty tick, and one
    push rendered and planned off the database (texts, calendars and zones loaded)."""
    clock = FixedClock(NOW - WARMUP)
    core = build_core(Settings(data_dir=data_dir), clock=clock, database_url=url)
    runner = SchedulerRunner(core.store, core.pushes, batch_size=batch)
    empty = runner.tick()
    assert empty.claimed == 0, empty
    probe, tenant = LearnerState.from_dict(json.loads(state_json)), core.tenants.get(None)
    assert core.engine.push(probe, NOW, tenant)
    core.engine.agenda.plan(probe, tenant, NOW, claimed=("push", ""))
    clock.advance(WARMUP)
    return runner, core.store.engine


def tick_worker(
    index: int, url: str, data_dir: str, batch: int, state_json: str, barrier: Barrier, results: multiprocessing.Queue[dict[str, Any]],
) -> None:
    try:
        runner, engine = prepared_runner(url, Path(data_dir), batch, state_json)
        barrier.wait(timeout=300)
        started = time.monotonic()  # CLOCK_MONOTONIC: the same clock in every process
        cpu = time.process_time()
        result = runner.tick()
        finished = time.monotonic()
        cpu = time.process_time() - cpu
        engine.dispose()
        results.put({
            "index": index, "started": started, "finished": finished, "claimed": result.claimed, "messages": result.messages,
            "batches": result.batches, "seconds": result.seconds, "cpu_s": cpu, "rss_mb": peak_rss_mb(),
        })
    except BaseException:
        barrier.abort()
        results.put({"index": index, "error": traceback.format_exc()})
        raise


def run_tick(url: str, data_dir: Path, batch: int, state_json: str, workers: int) -> dict[str, Any]:
    """``workers`` spawned processes tick at the same moment; wall time from release to the last one done."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    processes = [
        context.Process(target=tick_worker, args=(i, url, str(data_dir), batch, state_json, barrier, results), name=f"tick-{i}")
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    reports: list[dict[str, Any]] = []
    try:
        while len(reports) < workers:
            try:
                reports.append(results.get(timeout=5))
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in processes):
                    break
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    errors = [r["error"] for r in reports if "error" in r]
    if errors or len(reports) < workers:
        raise RuntimeError("a tick worker failed:\n" + "\n".join(errors or [f"exit codes {[p.exitcode for p in processes]}"]))
    reports.sort(key=lambda r: r["index"])
    return {
        "seconds": max(r["finished"] for r in reports) - min(r["started"] for r in reports),
        "claimed": [r["claimed"] for r in reports],
        "messages": sum(r["messages"] for r in reports),
        "batches": [r["batches"] for r in reports],
        "worker_s": [round(r["seconds"], 3) for r in reports],
        "worker_cpu_s": [round(r["cpu_s"], 3) for r in reports],  # this process's CPU, the database server's not included
        "rss_mb": [round(r["rss_mb"], 1) for r in reports],
    }


def postgres_cpu_s(server: PostgresServer) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster, its live children and the reaped ones."""
    postmaster = int((server.dir / "data" / "postmaster.pid").read_text(encoding="ascii").split()[0])
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        elif ppid == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def verify(url: str, pop: Population, ids: Sequence[int], enrolled: int) -> dict[str, int]:
    """Who got what: one push each for the due learners, nothing for the rest, nothing left due."""
    engine = make_engine(url)
    with engine.connect() as connection:
        per_learner = connection.execute(select(_outbox.c.learner_id, func.count()).group_by(_outbox.c.learner_id))
        counts: dict[int, int] = {lid: n for lid, n in per_learner}  # noqa: C416 - dict() would take the result for a mapping (keys())
        left_due = connection.execute(select(func.count()).select_from(_due).where(_due.c.due_at <= NOW)).scalar_one()
        rows = connection.execute(select(func.count()).select_from(_due)).scalar_one()
        pushes_later = connection.execute(
            select(func.count()).select_from(_due).where(_due.c.kind == "push", _due.c.ref == "", _due.c.due_at > NOW)
        ).scalar_one()
    engine.dispose()
    due = set(ids)
    return {
        "outbox_rows": sum(counts.values()),
        "duplicates": sum(1 for lid, n in counts.items() if n > pop.messages_per_push),
        "duplicate_rows": sum(max(0, n - pop.messages_per_push) for n in counts.values()),
        "missing": sum(1 for lid in due if counts.get(lid, 0) == 0),
        "incomplete": sum(1 for lid in due if 0 < counts.get(lid, 0) < pop.messages_per_push),
        "unexpected": sum(1 for lid in counts if lid not in due),
        "left_due": left_due,
        "push_rows_not_moved": enrolled - pushes_later,
        "due_work_rows": rows,
    }


def scenario(
    name: str, url: str, pop: Population, args: argparse.Namespace, due: int, workers: int, data_dir: Path,
    server: PostgresServer | None = None,
) -> dict[str, Any]:
    ids = due_ids(args.enrolled, due)
    make_due(url, pop, ids)
    log(f"{name}: {due:,} of {args.enrolled:,} due, {workers} process(es) ticking ...")
    server_cpu = postgres_cpu_s(server) if server else 0.0
    tick = run_tick(url, data_dir, args.batch, pop.due_json, workers)
    if server:
        # Includes the workers' connecting and their empty tick, a few hundredths of a second.
        tick["server_cpu_s"] = round(postgres_cpu_s(server) - server_cpu, 3)
    checks = verify(url, pop, ids, args.enrolled)
    log(f"{name}: {tick['seconds']:.2f} s, claimed {tick['claimed']}, {tick['messages']:,} messages, "
        f"{checks['duplicates']} duplicates, {checks['missing']} missing, {checks['left_due']} left due, RSS {tick['rss_mb']} MB")
    assert sum(tick["claimed"]) == due, f"claimed {tick['claimed']}, {due} were due"
    if not args.push_row_only:  # else the tick adds the reminder rows of the due learners
        assert checks["due_work_rows"] == args.enrolled * pop.rows_per_learner, checks
    return {"due": due, **tick, "seconds": round(tick["seconds"], 3), **checks}


class Copies(Protocol):
    def fresh(self, name: str) -> str:
        """A new copy of the loaded database; returns its URL."""
        ...

    def discard(self, url: str) -> None: ...


class SqliteCopies:
    def __init__(self, template: Path) -> None:
        self.template = template

    def fresh(self, name: str) -> str:
        path = self.template.with_name(f"{name}.sqlite3")
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def discard(self, url: str) -> None:
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)


class PostgresCopies:
    """CREATE DATABASE ... TEMPLATE: a file-level copy of the loaded database."""

    def __init__(self, server: PostgresServer, template: str) -> None:
        self.server = server
        self.template = template

    def _admin(self, statement: sql.Composed) -> None:
        with psycopg.connect(f"host=127.0.0.1 port={self.server.port} user=postgres dbname=postgres", autocommit=True) as connection:
            connection.execute(statement)

    def fresh(self, name: str) -> str:
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self.template)))
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.server.port}/{name}"

    def discard(self, url: str) -> None:
        self._admin(sql.SQL("DROP DATABASE {}").format(sql.Identifier(url.rsplit("/", 1)[1])))


def measure(
    name: str, copies: Copies, pop: Population, args: argparse.Namespace, due: int, workers: int, data_dir: Path,
    server: PostgresServer | None = None,
) -> dict[str, Any]:
    """``--repeat`` runs, each on a fresh copy; the median run's figures, every run's seconds and checks."""
    runs = []
    for i in range(args.repeat):
        url = copies.fresh(f"run_{due}_{i}")
        try:
            runs.append(scenario(name, url, pop, args, due, workers, data_dir, server))
        finally:
            copies.discard(url)
    median = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    totals = {key: sum(run[key] for run in runs) for key in PROBLEMS}
    peak_rss = [max(run["rss_mb"][i] for run in runs) for i in range(workers)]
    return {**median, **totals, "rss_mb": peak_rss, "all_s": [run["seconds"] for run in runs]}


def profile_sqlite(template: Path, tmp: Path, pop: Population, args: argparse.Namespace, top: int) -> None:
    """The SQLite tick with --due learners under cProfile, in this process; the summary goes to stderr."""
    copies = SqliteCopies(template)
    url = copies.fresh("profile")
    make_due(url, pop, due_ids(args.enrolled, args.due))
    runner, engine = prepared_runner(url, tmp, args.batch, pop.due_json)
    profiler = cProfile.Profile()
    result: TickResult = profiler.runcall(runner.tick)
    engine.dispose()
    copies.discard(url)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    log(f"profile of the SQLite tick ({result.claimed:,} claimed, {result.seconds:.2f} s under the profiler):\n{out.getvalue()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enrolled", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--small-due", type=int, default=1000, help="the second run, to show the cost follows the number due")
    parser.add_argument("--batch", type=int, default=500, help="rows claimed per transaction")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario, each on a fresh copy; the median is reported")
    parser.add_argument("--push-row-only", action="store_true",
                        help="load only the push row per learner; the tick then also inserts the reminder rows the state implies")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also profile the SQLite tick, top N functions to stderr")
    args = parser.parse_args()
    assert 0 < args.small_due <= args.due <= args.enrolled
    assert args.repeat >= 1

    bench_started = time.perf_counter()
    result: dict[str, Any] = {"enrolled": args.enrolled, "due": args.due, "small_due": args.small_due, "batch": args.batch}
    runs: dict[str, dict[str, Any]] = {}
    load_s: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="campusbot-fanout-") as tmp_name:
        tmp = Path(tmp_name)
        pop = population(tmp, push_row_only=args.push_row_only)
        log(f"learner state: {len(pop.due_json):,} bytes, {pop.rows_per_learner} due-work rows, {pop.messages_per_push} messages per push")

        template = tmp / "template.sqlite3"
        log(f"SQLite: loading {args.enrolled:,} learners ...")
        load_s["sqlite"] = round(load(f"sqlite:///{template}", pop, args.enrolled), 2)
        log(f"SQLite: loaded in {load_s['sqlite']} s")
        for due in (args.due, args.small_due):
            runs[f"sqlite_{due}"] = measure(f"SQLite {due:,}", SqliteCopies(template), pop, args, due, 1, tmp)

        if not args.skip_postgres:
            server = PostgresServer()
            log(f"PostgreSQL: starting a server in {server.dir} ...")
            server.start()
            try:
                base = server.new_database()
                template_name = base.rsplit("/", 1)[1]
                log(f"PostgreSQL: loading {args.enrolled:,} learners ...")
                load_s["postgres"] = round(load(base, pop, args.enrolled), 2)
                log(f"PostgreSQL: loaded in {load_s['postgres']} s")
                for due in (args.due, args.small_due):
                    copies = PostgresCopies(server, template_name)
                    runs[f"postgres_{due}"] = measure(f"PostgreSQL {due:,}", copies, pop, args, due, 2, tmp, server)
            finally:
                server.stop()
        main_rss = peak_rss_mb()
        if args.profile:
            profile_sqlite(template, tmp, pop, args, args.profile)

    big, small = args.due, args.small_due
    sqlite_big, sqlite_small = runs[f"sqlite_{big}"], runs[f"sqlite_{small}"]
    pg_big, pg_small = runs.get(f"postgres_{big}"), runs.get(f"postgres_{small}")
    all_runs = list(runs.values())
    rss = [main_rss] + [mb for run in all_runs for mb in run["rss_mb"]]
    result.update({
        "sqlite_s": sqlite_big["seconds"],
        "postgres_2workers_s": pg_big["seconds"] if pg_big else None,
        f"sqlite_{small}_due_s": sqlite_small["seconds"],
        f"postgres_2workers_{small}_due_s": pg_small["seconds"] if pg_small else None,
        "duplicates": sum(run["duplicates"] for run in all_runs),
        "missing": sum(run["missing"] for run in all_runs),
        "left_due": sum(run["left_due"] for run in all_runs),
        "peak_rss_mb": round(max(rss), 1),
        "postgres_claimed_per_worker": pg_big["claimed"] if pg_big else None,
        f"postgres_claimed_per_worker_{small}_due": pg_small["claimed"] if pg_small else None,
        "messages": sqlite_big["messages"],
        "postgres_messages": pg_big["messages"] if pg_big else None,
        "messages_per_push": pop.messages_per_push,
        "due_work_rows_per_learner": pop.rows_per_learner,
        "rss_mb": {"loader": round(main_rss, 1), **{name: run["rss_mb"] for name, run in runs.items()}},
        "load_s": load_s,
        "runs": runs,
        "total_s": round(time.perf_counter() - bench_started, 1),
    })
    seconds = [run["seconds"] for name, run in runs.items() if run["due"] == big]
    result["targets_met"] = {
        "time_le_5s": all(s <= 5 for s in seconds),
        "exactly_one_push_each": all(run[key] == 0 for run in all_runs for key in PROBLEMS),
        "rss_le_250mb": result["peak_rss_mb"] <= 250,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
