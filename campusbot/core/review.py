"""Spaced repetition of quiz items with FSRS.

One card per learner and quiz item. The store keeps the card as the JSON-ready
dict that ``ReviewService.review`` returns and hands it back on the next
answer; nothing else in campusbot needs to know what is inside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from fsrs import Card, Rating, Scheduler
from fsrs.card import CardDict


class ReviewService:
    """Schedules the next review of a quiz item from the learner's answers.

    Reviews are pushed at most once a day, so the scheduler has no intraday
    learning or relearning steps: every answer yields an interval of whole
    days (at least one). Fuzzing is off, so the same answers at the same
    moments always give the same due dates.
    """

    def __init__(self, desired_retention: float = 0.9) -> None:
        if not 0 < desired_retention < 1:
            raise ValueError(f"desired_retention must be between 0 and 1, not {desired_retention}")
        self._scheduler = Scheduler(
            desired_retention=desired_retention,
            learning_steps=(),
            relearning_steps=(),
            enable_fuzzing=False,
        )

    def review(self, card: dict[str, Any] | None, correct: bool, now: datetime) -> tuple[dict[str, Any], datetime]:
        """Apply one answer (correct -> Rating.Good, wrong -> Rating.Again) to the card (None = new card) at `now` (aware).

        Returns the new card as a JSON-ready dict and its next due moment (aware UTC).
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("review needs an aware datetime")
        # fsrs accepts UTC only, and would read the system clock for a new card's id and due date.
        at = now.astimezone(UTC)
        current = Card.from_dict(cast(CardDict, card)) if card is not None else Card(card_id=int(at.timestamp() * 1000), due=at)
        updated, _log = self._scheduler.review_card(current, Rating.Good if correct else Rating.Again, review_datetime=at)
        return dict(updated.to_dict()), updated.due.astimezone(UTC)
