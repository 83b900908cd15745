"""One-time codes that make a messenger account a learner's.

A Telegram account says nothing about who works for which municipality. An
operator or HR hands an employee an enrolment code for their municipality
(``campusbot enroll-code --tenant ...``); a learner already on Matrix asks for a
link code there ("telegram") and continues with the same plan and progress.
Only the SHA-256 of a code is stored; a code works once and expires.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from campusbot.core.messages import LearnerId

if TYPE_CHECKING:  # ports imports this module for RedeemedCode
    from campusbot.core.ports import Transaction

# No 0/O, 1/I/L: codes are read off paper and typed on phones.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
LINK_CODE_VALIDITY = timedelta(minutes=15)
DEFAULT_ENROLMENT_VALIDITY = timedelta(days=30)
_CODE = re.compile(rf"^(?:/start\s+)?([{ALPHABET}{ALPHABET.lower()}\s-]{{{CODE_LENGTH},24}})$")


@dataclass(frozen=True, slots=True)
class RedeemedCode:
    """What a valid code stood for: a new learner of ``tenant_id``, or (``learner_id``) a link."""

    tenant_id: str | None
    learner_id: LearnerId | None


def new_code() -> str:
    """A fresh code, shown as two groups of five: ``K7QMD-XW2PE``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def issue_codes(
    tx: Transaction, tenant_id: str | None, now: datetime, *, count: int = 1, learner_id: LearnerId | None = None,
    validity: timedelta = DEFAULT_ENROLMENT_VALIDITY,
) -> list[str]:
    """Fresh codes for the tenant (with ``learner_id``: link codes for that learner); only their hashes are stored."""
    codes = [new_code() for _ in range(count)]
    for code in codes:
        tx.save_enrolment_code(code_hash(code), tenant_id, learner_id, now, now + validity)
    return codes


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode("ascii")).hexdigest()


def normalize_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


def find_code(text: str) -> str | None:
    """The code in a message ("K7QMD-XW2PE", "k7qmd xw2pe", "/start K7QMDXW2PE"), if it is one."""
    match = _CODE.fullmatch(text.strip())
    if match is None:
        return None
    code = normalize_code(match.group(1))
    return code if len(code) == CODE_LENGTH else None
