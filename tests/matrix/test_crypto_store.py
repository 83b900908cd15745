"""The crypto store skips nio's write of an empty set of encrypted rooms after every sync."""

from __future__ import annotations

from pathlib import Path

from nio.crypto.sessions import OlmAccount
from nio.store.database import DefaultStore, MatrixStore

from campusbot.channels.matrix.crypto_store import CryptoStore
from tests.matrix.test_bot import STORE_SECRET

USER = "@campusbot:localhost"
DEVICE = "CAMPUSBOT"


def traced(store_class: type[MatrixStore], path: Path) -> tuple[MatrixStore, list[str]]:
    store = store_class(USER, DEVICE, str(path), STORE_SECRET)
    store.save_account(OlmAccount())
    statements: list[str] = []
    store.database.connection().set_trace_callback(statements.append)
    return store, statements


def test_nio_writes_after_every_sync_even_with_no_new_encrypted_room(tmp_path: Path) -> None:
    # Why CryptoStore exists: should nio stop doing this, CryptoStore can go.
    store, statements = traced(DefaultStore, tmp_path)
    store.save_encrypted_rooms(set())
    assert any(s.startswith("BEGIN") for s in statements)


def test_no_new_encrypted_room_costs_no_statement(tmp_path: Path) -> None:
    store, statements = traced(CryptoStore, tmp_path)
    store.save_encrypted_rooms(set())
    assert statements == []


def test_new_encrypted_rooms_are_still_saved(tmp_path: Path) -> None:
    store, statements = traced(CryptoStore, tmp_path)
    store.save_encrypted_rooms({"!dm:localhost"})
    assert statements
    reopened = CryptoStore(USER, DEVICE, str(tmp_path), STORE_SECRET)
    assert reopened.load_encrypted_rooms() == {"!dm:localhost"}
