"""Fixtures for end-to-end tests against a real Synapse homeserver."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.matrix.learner import LearnerClient
from tests.matrix.synapse import DEFAULT_PASSWORD, Account, Synapse


class Register(Protocol):
    def __call__(self, prefix: str = "user", *, password: str = DEFAULT_PASSWORD, admin: bool = False) -> Account: ...


class MakeLearner(Protocol):
    async def __call__(self, account: Account | None = None) -> LearnerClient: ...


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    """One Synapse for the whole session; tests must not assume it is empty."""
    server = Synapse(tmp_path_factory.mktemp("synapse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


_run = uuid.uuid4().hex[:6]
_counter = itertools.count(1)


@pytest.fixture
def register(synapse: Synapse) -> Register:
    """A factory of fresh accounts with unique localparts (``prefix-<run>-<n>``)."""

    def make(prefix: str = "user", *, password: str = DEFAULT_PASSWORD, admin: bool = False) -> Account:
        return synapse.register(f"{prefix}-{_run}-{next(_counter)}", password=password, admin=admin)

    return make


@pytest.fixture
async def make_learner(synapse: Synapse, register: Register, tmp_path: Path) -> AsyncIterator[MakeLearner]:
    """A factory of running `LearnerClient`s (a new account unless one is given); all are closed afterwards."""
    learners: list[LearnerClient] = []

    async def make(account: Account | None = None) -> LearnerClient:
        account = account or register("learner")
        learner = await LearnerClient.create(synapse.url, account, tmp_path / "learners" / account.localpart / account.device_id)
        learners.append(learner)
        return learner

    try:
        yield make
    finally:
        for learner in learners:
            await learner.close()
