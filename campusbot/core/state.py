"""A learner's persisted dialog state: where they are and what they have done.

The state is the aggregate the dialog engine works on during one turn; the
store persists it as one versioned document so that a restart resumes at
exactly the same step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

STATE_VERSION = 1


class Step(StrEnum):
    CONSENT = "consent"
    ROLE = "role"
    INTERESTS = "interests"
    CHECK_INTRO = "check_intro"
    CHECK = "check"
    PLAN = "plan"
    PLAN_DROP = "plan_drop"
    PLAN_MOVE = "plan_move"
    IDLE = "idle"
    UNIT = "unit"
    EVALUATION = "evaluation"
    QUIZ = "quiz"
    EXAM_INTRO = "exam_intro"
    EXAM = "exam"
    ERASE_CONFIRM = "erase_confirm"
    LANGUAGE = "language"
    PUSH_OFFER = "push_offer"
    REVIEW = "review"
    SETTINGS = "settings"
    SETTINGS_TIME = "settings_time"
    SETTINGS_FREQUENCY = "settings_frequency"
    SETTINGS_DAYS = "settings_days"
    ATTENDANCE = "attendance"
    DEPARTMENT = "department"


@dataclass(slots=True)
class ModuleProgress:
    units_done: int = 0
    evaluations: dict[str, dict[str, str]] = field(default_factory=dict)
    quiz: dict[str, bool] = field(default_factory=dict)
    exam_answers: dict[str, int] = field(default_factory=dict)
    exam_attempts: int = 0
    exam_best: float | None = None
    participation_at: str | None = None
    certificate_at: str | None = None


@dataclass(slots=True)
class LearnerState:
    """Mutable during a turn; serialised with ``to_dict``/``from_dict``."""

    lang: str = "de"
    step: Step = Step.CONSENT
    # Where a step is inside its list (check item, unit, question) and what it is about.
    module_id: str = ""
    index: int = 0
    # The step to return to after an interruption such as the language question.
    resume_step: Step | None = None
    consent_at: str | None = None
    role_id: str = ""
    department: str = ""  # where in the municipality the learner works, if the tenant asks and they say
    interests: list[str] = field(default_factory=list)
    check_answers: dict[str, int] = field(default_factory=dict)
    check_done_at: str | None = None
    levels: dict[str, int] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    plan_accepted: bool = False
    progress: dict[str, ModuleProgress] = field(default_factory=dict)
    mandatory_done: dict[str, str] = field(default_factory=dict)
    paused: bool = False
    pushes_stopped: bool = False
    enrolled_at: str = ""
    # When the bot comes to the learner (set in conversation; see core/agenda.py).
    push_time: str = "09:00"
    push_days: list[int] = field(default_factory=lambda: [1, 3])  # 0 = Monday; default Tuesday and Thursday
    vacation_until: str | None = None  # last day of a vacation pause (ISO date)
    snoozed_until: str | None = None  # ISO datetime
    last_active_at: str | None = None
    last_push_at: str | None = None
    push_open: bool = False  # the last push has not been answered yet
    nudged: bool = False
    nudged_at: str | None = None
    backoff: int = 0  # how often pushes went unanswered in a row after a nudge
    last_unsolicited_on: str | None = None  # local date of the last message the learner did not ask for
    # The name on confirmations and certificates: from the network, or as the learner set it.
    display_name: str = ""
    name_confirmed: bool = False
    personnel_number: str = ""  # optional, only if the learner gives it: HR notices carry it
    review_item: str = ""  # the quiz item of a spaced-repetition review in progress
    # Live tutorials the learner says they attended (tutorial id -> when they said so): a module
    # with tutorials is confirmed only with one of them attended.
    attended: dict[str, str] = field(default_factory=dict)
    attendance_tutorial: str = ""  # the tutorial the open attendance question is about
    # The due-work rows as last written ("kind|ref" -> ISO datetime): only changes reach the store.
    agenda: dict[str, str] = field(default_factory=dict)
    agenda_inputs: str = ""  # what the agenda was last worked out from (see Agenda.sync)

    def module_progress(self, module_id: str) -> ModuleProgress:
        progress = self.progress.get(module_id)
        if progress is None:
            progress = self.progress[module_id] = ModuleProgress()
        return progress

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view; it shares lists and dicts with the state instead of copying them."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _STATE_FIELDS}
        data["progress"] = {key: {name: getattr(p, name) for name in _PROGRESS_FIELDS} for key, p in self.progress.items()}
        data["version"] = STATE_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LearnerState:
        data = dict(data)
        version = data.pop("version", STATE_VERSION)
        if version != STATE_VERSION:
            raise ValueError(f"unsupported learner state version {version}")
        data["step"] = Step(data["step"])
        if data.get("resume_step") is not None:
            data["resume_step"] = Step(data["resume_step"])
        data["progress"] = {k: ModuleProgress(**v) for k, v in data.get("progress", {}).items()}
        return cls(**data)


_STATE_FIELDS = tuple(f.name for f in fields(LearnerState))
_PROGRESS_FIELDS = tuple(f.name for f in fields(ModuleProgress))
