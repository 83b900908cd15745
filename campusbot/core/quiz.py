"""Grading quiz and exam answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from campusbot.content.models import Exam, Question


@dataclass(frozen=True, slots=True)
class GradeResult:
    correct: bool
    correct_option: int
    explanation: str


@dataclass(frozen=True, slots=True)
class ExamResult:
    correct: int
    total: int
    threshold: float

    @property
    def score(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def passed(self) -> bool:
        # Compare in whole answers so that 0.7 * 10 is not lost to float rounding.
        return self.correct * 1000 >= round(self.threshold * 1000) * self.total


class QuizService:
    def grade_answer(self, question: Question, option_index: int, lang: str) -> GradeResult:
        return GradeResult(option_index + 1 == question.correct, question.correct, question.explanation.get(lang))

    def grade_exam(self, exam: Exam, answers: Mapping[str, int]) -> ExamResult:
        correct = sum(1 for item in exam.items if answers.get(item.id) == item.correct)
        return ExamResult(correct, len(exam.items), exam.pass_threshold)

    @staticmethod
    def unit_questions(quiz: Sequence[Question], unit_index: int, unit_count: int) -> list[Question]:
        """The quiz items asked after a unit: the module's items dealt out round-robin over its units."""
        return [q for i, q in enumerate(quiz) if i % unit_count == unit_index]
