"""Spaced repetition: correct answers push a quiz item further out, a wrong one brings it back soon."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fsrs import Card

from campusbot.core.review import ReviewService

START = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def answer_correctly_at_each_due_date(service: ReviewService, times: int) -> tuple[dict[str, Any], datetime, list[timedelta]]:
    card = None
    now = START
    gaps: list[timedelta] = []
    for _ in range(times):
        card, due = service.review(card, correct=True, now=now)
        gaps.append(due - now)
        now = due
    assert card is not None
    return card, now, gaps


def test_intervals_grow_with_every_correct_answer() -> None:
    _, _, gaps = answer_correctly_at_each_due_date(ReviewService(), 5)
    assert gaps[0] >= timedelta(days=1)
    assert all(earlier < later for earlier, later in itertools.pairwise(gaps)), gaps


def test_wrong_answer_after_correct_ones_shortens_the_interval() -> None:
    service = ReviewService()
    card, now, gaps = answer_correctly_at_each_due_date(service, 4)
    _, due = service.review(card, correct=False, now=now)
    assert timedelta(days=1) <= due - now < gaps[-1]


def test_wrong_answer_on_a_new_card_schedules_review_next_day() -> None:
    _, due = ReviewService().review(None, correct=False, now=START)
    # Not minutes later (there are no intraday steps), and not later than tomorrow.
    assert timedelta(hours=20) <= due - START <= timedelta(days=1)


def test_card_survives_a_json_round_trip() -> None:
    service = ReviewService()
    card, now, _ = answer_correctly_at_each_due_date(service, 3)
    stored = json.loads(json.dumps(card))
    assert stored == card
    assert dict(Card.from_json(json.dumps(card)).to_dict()) == card
    # Continuing from the stored copy schedules exactly as continuing from the original.
    assert service.review(stored, correct=True, now=now) == service.review(card, correct=True, now=now)


def test_due_is_utc_even_when_now_is_local_time() -> None:
    local = START.astimezone(ZoneInfo("Europe/Berlin"))
    card, due = ReviewService().review(None, correct=True, now=local)
    assert due.utcoffset() == timedelta(0)
    assert due == ReviewService().review(None, correct=True, now=START)[1]
    assert card["last_review"] == START.isoformat()


def test_naive_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        ReviewService().review(None, correct=True, now=START.replace(tzinfo=None))


def test_same_answers_give_the_same_schedule() -> None:
    assert answer_correctly_at_each_due_date(ReviewService(), 3) == answer_correctly_at_each_due_date(ReviewService(), 3)


def test_higher_desired_retention_gives_shorter_intervals() -> None:
    _, _, relaxed = answer_correctly_at_each_due_date(ReviewService(desired_retention=0.8), 3)
    _, _, strict = answer_correctly_at_each_due_date(ReviewService(desired_retention=0.95), 3)
    assert strict[-1] < relaxed[-1]
