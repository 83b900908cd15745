"""The dialog engine: one learner turn from state and message to new state, replies and effects.

The engine is pure: it reads the catalogue, the clock and the learner's state
and returns what to say and what to record. The ``TurnService`` wraps it in one
store transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal

from babel.dates import format_datetime

from campusbot.content.catalog import Catalog
from campusbot.content.models import LANGUAGES, EvaluationQuestion, Exam, KnowledgeItem, Module, Question, Tutorial, Unit
from campusbot.core.agenda import Agenda
from campusbot.core.check import AreaResult, CompetencyCheckService
from campusbot.core.clock import Clock
from campusbot.core.ical import tutorial_ics
from campusbot.core.messages import ChoiceMessage, FileMessage, Incoming, Option, Outgoing, TextMessage
from campusbot.core.plan import PlanService, Reason, add_months
from campusbot.core.quiz import QuizService
from campusbot.core.snooze import Snooze, parse_snooze, parse_vacation, snooze_until
from campusbot.core.state import LearnerState, ModuleProgress, Step
from campusbot.core.tenants import NO_TENANT, TenantPolicy
from campusbot.core.textmatch import Matched, NoMatch, OutOfRange, match_many, match_option, matches_word, normalize
from campusbot.core.texts import Texts

AchievementKind = Literal["participation", "certificate", "mandatory"]
# Longer messages are not read as answers; free-text answers are cut to this length.
MAX_ANSWER_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Achievement:
    """A participation confirmation, certificate or mandatory-training completion to record."""

    module_id: str
    kind: AchievementKind
    issued_at: datetime
    hours: float
    competences: tuple[str, ...]
    score: float | None = None
    next_due: date | None = None


@dataclass(frozen=True, slots=True)
class ExportRequested:
    pass


@dataclass(frozen=True, slots=True)
class EraseRequested:
    pass


@dataclass(frozen=True, slots=True)
class LinkRequested:
    """The learner wants to use another messenger too: they get a one-time link code."""


@dataclass(frozen=True, slots=True)
class Reviewed:
    """A quiz item was answered: its spaced-repetition card is to be updated."""

    item_id: str
    correct: bool


Effect = Achievement | ExportRequested | EraseRequested | Reviewed | LinkRequested


@dataclass(slots=True)
class TurnOutcome:
    state: LearnerState | None
    messages: list[Outgoing]
    effects: list[Effect]


COMMANDS: dict[str, tuple[str, ...]] = {
    "help": ("hilfe", "help", "was kann ich tun", "what can i do"),
    "status": ("status", "fortschritt", "progress", "mein stand", "stand"),
    "next": ("weiter", "next", "continue", "fortsetzen", "los", "go on"),
    "plan": ("plan", "lernplan", "learning plan", "mein plan", "my plan"),
    "check": ("check", "kompetenzcheck", "competency check"),
    "language": ("sprache", "language"),
    "english": ("english", "englisch", "in english"),
    "german": ("deutsch", "german", "auf deutsch"),
    "pause": ("pause", "pausieren"),
    "stop": ("stop", "stopp", "abmelden", "unsubscribe"),
    "export": ("export", "datenexport", "meine daten", "my data", "daten exportieren", "export my data"),
    "erase": ("loeschen", "daten loeschen", "alles loeschen", "delete", "erase", "delete my data"),
    "menu": ("menue", "menu", "hauptmenue", "main menu"),
    "exam": ("pruefung", "abschlusspruefung", "exam", "final exam"),
    "attended": (
        "teilgenommen", "ich war dabei", "ich habe teilgenommen", "war dabei", "teilnahme bestaetigen", "attended", "i attended",
    ),
    "department": ("abteilung", "meine abteilung", "bereich", "fachbereich", "amt", "department", "my department"),
    "link": ("telegram", "telegram verknuepfen", "mit telegram verknuepfen", "konto verknuepfen", "link telegram", "link account"),
    "settings": (
        "einstellungen", "settings", "lernzeit", "lernzeiten", "erinnerungen", "reminders", "benachrichtigungen", "notifications",
    ),
}
NAME_PATTERN = re.compile(r"(?:mein name ist|mein name:|name:|my name is|my name:)\s*(\S.{1,99})", re.IGNORECASE)
MAX_NAME_CHARS = 100
PERSONNEL_PATTERN = re.compile(
    r"(?:meine personalnummer(?: ist|:)?|personalnummer:?|my personnel number(?: is|:)?)\s*([A-Za-z0-9./-]{1,32})", re.IGNORECASE,
)
GREETINGS = ("hallo", "hi", "hey", "moin", "servus", "guten tag", "guten morgen", "hello", "good morning", "gruess gott")
# Before consent only these make sense; everything else asks for consent first.
PRE_CONSENT_COMMANDS = {"help", "language", "english", "german", "erase", "stop"}
CLOCK_PATTERN = re.compile(r"(?:um\s+|at\s+)?(\d{1,2})(?:[:.](\d{2}))?\s*(?:uhr|h)?")
FREQUENCY_DAYS = ([0, 1, 2, 3, 4], [1, 3], [1])  # daily, twice a week, weekly
DROP_PATTERN = re.compile(r"^(?:streiche\w*|streich|entferne\w*|loesche\w*|drop|remove)\s+(\d+)$")
MOVE_PATTERN = re.compile(r"^(?:(\d+)\s+(?:nach vorne?|nach oben|zuerst|first|to the top|up)|(?:move|vor|verschiebe)\s+(\d+)(?:\s+\w+)*)$")


@dataclass(slots=True)
class _Turn:
    state: LearnerState
    now: datetime
    tenant: TenantPolicy = NO_TENANT
    messages: list[Outgoing] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    erased: bool = False

    def outcome(self) -> TurnOutcome:
        return TurnOutcome(None if self.erased else self.state, self.messages, self.effects)


class DialogEngine:
    """Drives the learner's journey: consent, role, check, plan, units, quizzes, exams."""

    def __init__(self, catalog: Catalog, texts: Texts, clock: Clock, default_lang: str = "de", agenda: Agenda | None = None) -> None:
        self._catalog = catalog
        self._texts = texts
        self._clock = clock
        self._default_lang = default_lang
        self.check = CompetencyCheckService(catalog)
        self.plans = PlanService(catalog)
        self.quiz = QuizService()
        self.agenda = agenda or Agenda(catalog, self.plans)
        # Every quiz item by id, for spaced-repetition reviews: its module and place in the module's quiz.
        self._quiz_items = {q.id: (m, i) for m in catalog.modules for i, q in enumerate(m.quiz)}
        self._tutorials = {tutorial.id: tutorial for tutorial in catalog.tutorials}

    # -- entry point ---------------------------------------------------------------------------

    def turn(self, state: LearnerState | None, incoming: Incoming, tenant: TenantPolicy = NO_TENANT) -> TurnOutcome:
        now = self._clock.now()
        if state is None:
            lang = incoming.lang_hint if incoming.lang_hint in LANGUAGES else self._default_lang
            t = _Turn(LearnerState(lang=lang or "de", enrolled_at=now.isoformat()), now, tenant)
            self._say(t, "welcome.greeting")
            self._prompt(t)
            return t.outcome()
        t = _Turn(state, now, tenant)
        if incoming.display_name and not state.name_confirmed:
            state.display_name = incoming.display_name.strip()[:MAX_NAME_CHARS]
        # Whatever the learner says answers the last push: no nudge, no back-off.
        state.push_open = state.nudged = False
        state.nudged_at, state.backoff = None, 0
        state.last_active_at = now.isoformat()
        if incoming.kind == "open":
            self._say(t, "welcome.back")
            self._prompt(t, full=True)
        elif incoming.kind == "choice":
            self._answer_choice(t, incoming)
        else:
            self._answer_text(t, incoming.text.strip())
        return t.outcome()

    # -- small helpers -------------------------------------------------------------------------

    def _t(self, t: _Turn, key: str, **values: object) -> str:
        return self._texts(t.state.lang, key, **values)

    def _say(self, t: _Turn, key: str, **values: object) -> None:
        t.messages.append(TextMessage(self._t(t, key, **values)))

    def _ask(self, t: _Turn, prompt: str, labels: list[str], *, multiple: bool = False, quiz: bool = False) -> None:
        options = tuple(Option(str(i + 1), label) for i, label in enumerate(labels))
        t.messages.append(ChoiceMessage(self._choice_id(t.state), prompt, options, multiple, quiz))

    @staticmethod
    def _choice_id(state: LearnerState) -> str:
        return f"{state.step.value}:{state.module_id}:{state.index}"

    def _exam(self, state: LearnerState) -> Exam:
        exam = self._module(state).exam
        if exam is None:
            raise LookupError(f"module {state.module_id!r} has no exam")
        return exam

    def _module(self, state: LearnerState) -> Module:
        module = self._catalog.module(state.module_id)
        if module is None:
            raise LookupError(f"module {state.module_id!r} is not in the catalogue")
        return module

    def _area_title(self, t: _Turn, code: str) -> str:
        area = self._catalog.area(code)
        return area.title.get(t.state.lang) if area else code

    def _format_date(self, t: _Turn, day: date) -> str:
        return day.strftime("%d.%m.%Y") if t.state.lang == "de" else day.isoformat()

    # -- the question of each step -------------------------------------------------------------

    def _options(self, t: _Turn) -> list[str] | None:
        """The labels of the options the learner is asked to choose from now, if any."""
        s, lang = t.state, t.state.lang
        match s.step:
            case Step.CONSENT:
                return [self._t(t, "consent.yes"), self._t(t, "consent.no"), self._t(t, "consent.more")]
            case Step.ROLE:
                return [r.title.get(lang) for r in self._catalog.roles]
            case Step.DEPARTMENT:
                return [*t.tenant.departments, self._t(t, "department.none")]
            case Step.INTERESTS:
                return [i.title.get(lang) for i in self._catalog.interests]
            case Step.CHECK_INTRO | Step.EXAM_INTRO:
                return [self._t(t, "option.start_now"), self._t(t, "option.later")]
            case Step.CHECK:
                return self.check.option_labels(self.check.items[s.index], lang)
            case Step.PLAN:
                return [self._t(t, "plan.accept"), self._t(t, "plan.drop"), self._t(t, "plan.move")]
            case Step.PLAN_DROP | Step.PLAN_MOVE:
                return [self._module_title(t, m) for m in s.plan] + [self._t(t, "option.cancel")]
            case Step.IDLE:
                return [self._t(t, "menu.next"), self._t(t, "menu.status"), self._t(t, "menu.plan"), self._t(t, "menu.help")]
            case Step.UNIT:
                return [self._t(t, "unit.done"), self._t(t, "option.later")]
            case Step.EVALUATION:
                question = self._evaluation_questions(s)[s.index]
                if question.kind == "rating":
                    return [self._t(t, f"evaluation.rating.{n}") for n in range(1, 6)]
                if question.kind == "choice":
                    return [o.get(lang) for o in question.options]
                return None
            case Step.QUIZ | Step.EXAM:
                return [o.get(lang) for o in self._current_question(s).options]
            case Step.ERASE_CONFIRM:
                return [self._t(t, "erase.yes"), self._t(t, "erase.no")]
            case Step.LANGUAGE:
                return ["Deutsch", "English"]
            case Step.PUSH_OFFER:
                return [self._t(t, "push.start"), self._t(t, "push.later"), self._t(t, "push.tomorrow")]
            case Step.REVIEW:
                return [o.get(lang) for o in self._review_question(s).options]
            case Step.SETTINGS:
                return [self._t(t, f"settings.{key}") for key in ("change_time", "change_frequency", "change_days", "done")]
            case Step.SETTINGS_TIME:
                return ["7:30", "9:00", "12:30", "15:00"]
            case Step.SETTINGS_FREQUENCY:
                return [self._t(t, f"settings.frequency.{key}") for key in ("daily", "twice", "weekly")]
            case Step.SETTINGS_DAYS:
                return [self._t(t, f"weekday.{n}") for n in range(5)]
            case Step.ATTENDANCE:
                return [self._t(t, "attendance.yes"), self._t(t, "attendance.no")]
        return None

    def _module_title(self, t: _Turn, module_id: str) -> str:
        module = self._catalog.module(module_id)
        return module.title.get(t.state.lang) if module else module_id

    def _prompt(self, t: _Turn, *, full: bool = False) -> None:
        """Ask the current step's question again (``full`` repeats a unit's text too)."""
        s, lang = t.state, t.state.lang
        labels = self._options(t)
        match s.step:
            case Step.CONSENT:
                self._ask(t, self._t(t, "consent.question"), labels or [])
            case Step.ROLE:
                self._ask(t, self._t(t, "role.question"), labels or [])
            case Step.DEPARTMENT:
                self._ask(t, self._t(t, "department.question"), labels or [])
            case Step.INTERESTS:
                self._ask(t, self._t(t, "interests.question"), labels or [], multiple=True)
            case Step.CHECK_INTRO:
                self._ask(t, self._catalog.check.intro.get(lang) + "\n\n" + self._t(t, "check.start_question"), labels or [])
            case Step.CHECK:
                item = self.check.items[s.index]
                header = self._t(t, "check.progress", n=s.index + 1, total=len(self.check.items), area=self._area_title(t, item.area))
                if isinstance(item, KnowledgeItem):
                    body = item.prompt.get(lang)
                else:
                    body = item.statement.get(lang) + "\n\n" + self._t(t, "check.self_hint")
                self._ask(t, f"{header}\n\n{body}", labels or [])
            case Step.PLAN:
                self._show_plan(t)
                self._ask(t, self._t(t, "plan.question"), labels or [])
            case Step.PLAN_DROP:
                self._ask(t, self._t(t, "plan.drop_question"), labels or [])
            case Step.PLAN_MOVE:
                self._ask(t, self._t(t, "plan.move_question"), labels or [])
            case Step.IDLE:
                self._ask(t, self._t(t, "menu.question"), labels or [])
            case Step.UNIT:
                if full:
                    self._send_unit(t)
                self._ask(t, self._t(t, "unit.done_question"), labels or [])
            case Step.EVALUATION:
                question = self._evaluation_questions(s)[s.index]
                header = self._t(t, "evaluation.header", n=s.index + 1, total=len(self._evaluation_questions(s)))
                prompt = f"{header}\n\n{question.prompt.get(lang)}"
                if labels is None:
                    t.messages.append(TextMessage(prompt + "\n\n" + self._t(t, "evaluation.text_hint")))
                else:
                    self._ask(t, prompt, labels)
            case Step.QUIZ:
                questions = self._unit_quiz(s)
                header = self._t(t, "quiz.header", n=s.index + 1, total=len(questions))
                self._ask(t, f"{header}\n\n{self._current_question(s).prompt.get(lang)}", labels or [], quiz=True)
            case Step.EXAM_INTRO:
                module, exam = self._module(s), self._exam(s)
                percent = round(exam.pass_threshold * 100)
                self._ask(t, self._t(t, "exam.intro", module=module.title.get(lang), total=len(exam.items), percent=percent), labels or [])
            case Step.EXAM:
                header = self._t(t, "exam.header", n=s.index + 1, total=len(self._exam(s).items))
                self._ask(t, f"{header}\n\n{self._current_question(s).prompt.get(lang)}", labels or [], quiz=True)
            case Step.ERASE_CONFIRM:
                self._ask(t, self._t(t, "erase.question"), labels or [])
            case Step.LANGUAGE:
                self._ask(t, self._t(t, "language.question"), labels or [])
            case Step.PUSH_OFFER:
                self._ask(t, self._t(t, "push.question"), labels or [])
            case Step.REVIEW:
                prompt = self._t(t, "review.header") + "\n\n" + self._review_question(s).prompt.get(lang)
                self._ask(t, prompt, labels or [], quiz=True)
            case Step.SETTINGS:
                self._ask(t, self._schedule_summary(t) + "\n\n" + self._t(t, "settings.question"), labels or [])
            case Step.SETTINGS_TIME:
                quiet = self.agenda.rules.quiet
                self._ask(t, self._t(t, "settings.time_question", start=_clock(quiet.end), end=_clock(quiet.start)), labels or [])
            case Step.SETTINGS_FREQUENCY:
                self._ask(t, self._t(t, "settings.frequency_question"), labels or [])
            case Step.SETTINGS_DAYS:
                self._ask(t, self._t(t, "settings.days_question"), labels or [], multiple=True)
            case Step.ATTENDANCE:
                tutorial = self._tutorials[s.attendance_tutorial]
                asked = self._t(t, "attendance.question", title=tutorial.title.get(lang), when=self._moment(t, tutorial.starts_at))
                self._ask(t, asked, labels or [])

    # -- reading answers -----------------------------------------------------------------------

    def _answer_choice(self, t: _Turn, incoming: Incoming) -> None:
        if incoming.choice_id != self._choice_id(t.state):
            self._say(t, "input.outdated_choice")
            self._prompt(t)
            return
        labels = self._options(t) or []
        indices = [int(k) - 1 for k in incoming.option_keys if k.isdigit() and 1 <= int(k) <= len(labels)]
        if not indices:
            self._say(t, "input.outdated_choice")
            self._prompt(t)
            return
        t.state.paused = False
        if t.state.step == Step.INTERESTS:
            self._choose_interests(t, indices)
        elif t.state.step == Step.SETTINGS_DAYS:
            self._choose_days(t, indices)
        else:
            self._choose(t, indices[0], labels)

    def _answer_text(self, t: _Turn, text: str) -> None:
        s = t.state
        if not text:
            self._say(t, "input.empty")
            self._prompt(t)
            return
        labels = self._options(t)
        free_text = s.step == Step.EVALUATION and labels is None
        if len(text) > MAX_ANSWER_CHARS and not free_text:
            self._say(t, "input.too_long")
            self._prompt(t)
            return
        exact = isinstance(match_option(text, labels, loose=False), Matched) if labels else False
        personnel = PERSONNEL_PATTERN.fullmatch(text.strip())
        if personnel is not None and s.consent_at is not None:
            s.personnel_number = personnel.group(1)
            self._say(t, "personnel.set", number=s.personnel_number)
            self._prompt(t)
            return
        named = NAME_PATTERN.fullmatch(text.strip())
        if named is not None and s.consent_at is not None:
            s.display_name, s.name_confirmed = named.group(1).strip()[:MAX_NAME_CHARS], True
            self._say(t, "name.set", name=s.display_name)
            self._prompt(t)
            return
        if not exact and matches_word(text, GREETINGS):
            # "Hallo" is no wrong answer: greet back and ask the open question again.
            self._say(t, "welcome.hello")
            self._prompt(t)
            return
        command = None if exact else self._command(text)
        if command is not None:
            if s.consent_at is None and command not in PRE_CONSENT_COMMANDS:
                self._say(t, "consent.first")
                self._prompt(t)
            else:
                self._run_command(t, command)
            return
        if not exact and s.consent_at is not None and self._schedule_phrase(t, text):
            return
        s.paused = False
        if free_text:
            self._record_evaluation(t, text[:MAX_ANSWER_CHARS].strip())
            return
        if s.step == Step.PLAN and self._plan_edit(t, normalize(text)):
            return
        if labels is None:
            self._say(t, "input.unknown")
            self._prompt(t)
            return
        if s.step in (Step.INTERESTS, Step.SETTINGS_DAYS):
            if s.step == Step.INTERESTS and (matches_word(text, ("keine", "nichts", "none", "nothing", "no")) or text.strip() == "-"):
                self._choose_interests(t, [])
                return
            many = match_many(text, labels)
            if isinstance(many, OutOfRange):
                self._say(t, "input.out_of_range", number=many.number, count=len(labels))
                self._prompt(t)
            elif many is None:
                self._say(t, "input.unknown_option", count=len(labels))
                self._prompt(t)
            elif s.step == Step.INTERESTS:
                self._choose_interests(t, many)
            else:
                self._choose_days(t, many)
            return
        match self._match_with_synonyms(t, text, labels):
            case Matched(index=index):
                self._choose(t, index, labels)
            case OutOfRange(number=number):
                self._say(t, "input.out_of_range", number=number, count=len(labels))
                self._prompt(t)
            case NoMatch():
                self._say(t, "input.unknown_option", count=len(labels))
                self._prompt(t)

    def _match_with_synonyms(self, t: _Turn, text: str, labels: list[str]) -> Matched | OutOfRange | NoMatch:
        result = match_option(text, labels)
        if not isinstance(result, NoMatch):
            return result
        # Yes/no questions: the first option is always the "yes" side.
        if t.state.step in (Step.CONSENT, Step.CHECK_INTRO, Step.EXAM_INTRO, Step.ERASE_CONFIRM, Step.UNIT, Step.ATTENDANCE):
            if matches_word(text, ("ja", "yes", "ok", "okay", "gerne", "jawohl", "einverstanden", "fertig", "done", "start", "starten")):
                return Matched(0)
            if matches_word(text, ("nein", "no", "nee", "spaeter", "later", "nicht jetzt", "not now")):
                return Matched(1)
        return result

    def _command(self, text: str) -> str | None:
        if text.strip() in ("?", "/help"):
            return "help"
        said = text.strip().lstrip("/")
        for command, words in COMMANDS.items():
            if matches_word(said, words):
                return command
        return None

    # -- commands ------------------------------------------------------------------------------

    def _run_command(self, t: _Turn, command: str) -> None:
        handlers: dict[str, Callable[[_Turn], None]] = {
            "help": self._cmd_help,
            "status": self._cmd_status,
            "next": self._cmd_next,
            "plan": self._cmd_plan,
            "check": self._cmd_check,
            "language": self._cmd_language,
            "english": lambda t: self._set_language(t, "en"),
            "german": lambda t: self._set_language(t, "de"),
            "pause": self._cmd_pause,
            "stop": self._cmd_stop,
            "export": self._cmd_export,
            "erase": self._cmd_erase,
            "menu": self._cmd_menu,
            "exam": self._cmd_exam,
            "settings": self._cmd_settings,
            "link": lambda t: t.effects.append(LinkRequested()),
            "attended": self._cmd_attended,
            "department": self._cmd_department,
        }
        handlers[command](t)

    def _cmd_help(self, t: _Turn) -> None:
        self._say(t, "help.text")
        self._prompt(t)

    def _cmd_status(self, t: _Turn) -> None:
        s, lang = t.state, t.state.lang
        lines = [self._t(t, "status.title")]
        role = self._catalog.role(s.role_id)
        lines.append(self._t(t, "status.role", role=role.title.get(lang) if role else "–"))
        if s.check_done_at:
            done_on = self._format_date(t, datetime.fromisoformat(s.check_done_at).date())
            lines.append(self._t(t, "status.check_done", date=done_on))
        elif s.step == Step.CHECK:
            lines.append(self._t(t, "status.check_running", n=s.index + 1, total=len(self.check.items)))
        else:
            lines.append(self._t(t, "status.check_open"))
        if s.plan:
            lines.append(self._t(t, "status.plan", count=len(s.plan)))
        for module_id in s.plan:
            module = self._catalog.module(module_id)
            if module is None:
                continue
            progress = s.progress.get(module_id)
            done = progress.units_done if progress else 0
            line = self._t(t, "status.module", module=module.title.get(lang), done=done, total=len(module.units))
            if progress and progress.certificate_at:
                line += " " + self._t(t, "status.certificate")
            elif progress and progress.participation_at:
                line += " " + self._t(t, "status.participation")
            elif done >= len(module.units) and self._attendance_missing(s, module):
                line += " " + self._t(t, "status.attendance_missing")
            lines.append(line)
        if s.paused:
            lines.append(self._t(t, "status.paused"))
        t.messages.append(TextMessage("\n".join(lines)))
        self._prompt(t)

    def _cmd_next(self, t: _Turn) -> None:
        s = t.state
        s.paused = False
        if s.step == Step.UNIT:
            self._start_evaluation(t)
        elif s.step == Step.IDLE:
            self._next_unit(t)
        else:
            self._prompt(t, full=True)

    def _cmd_plan(self, t: _Turn) -> None:
        if not t.state.plan:
            t.state.plan = [s.module.id for s in self.plans.suggest(t.state, t.now)]
        self._leave_for(t, Step.PLAN)

    def _cmd_check(self, t: _Turn) -> None:
        s = t.state
        if s.step == Step.CHECK:
            self._prompt(t)
            return
        if s.check_done_at:
            s.check_answers.clear()
            s.check_done_at = None
        self._leave_for(t, Step.CHECK_INTRO)

    def _leave_for(self, t: _Turn, step: Step) -> None:
        """Jump to another step; a unit, quiz or exam in progress is kept for 'weiter'."""
        t.state.step, t.state.index = step, 0
        self._prompt(t)

    def _cmd_language(self, t: _Turn) -> None:
        if t.state.step != Step.LANGUAGE:
            t.state.resume_step = t.state.step
        t.state.step = Step.LANGUAGE
        self._prompt(t)

    def _set_language(self, t: _Turn, lang: str) -> None:
        s = t.state
        s.lang = lang
        if s.step == Step.LANGUAGE:
            s.step = s.resume_step or Step.IDLE
            s.resume_step = None
        self._say(t, "language.changed")
        self._prompt(t)

    def _cmd_pause(self, t: _Turn) -> None:
        t.state.paused = True
        self._say(t, "pause.text")

    def _cmd_stop(self, t: _Turn) -> None:
        t.state.paused = True
        t.state.pushes_stopped = True
        self._say(t, "stop.text")

    def _cmd_export(self, t: _Turn) -> None:
        t.effects.append(ExportRequested())
        self._say(t, "export.text")

    def _cmd_erase(self, t: _Turn) -> None:
        s = t.state
        if s.step != Step.ERASE_CONFIRM:
            s.resume_step = s.step
        s.step = Step.ERASE_CONFIRM
        self._prompt(t)

    def _cmd_menu(self, t: _Turn) -> None:
        if t.state.consent_at is None:
            self._prompt(t)
            return
        self._leave_for(t, Step.IDLE)

    def _cmd_exam(self, t: _Turn) -> None:
        s = t.state
        candidates = [m for m in (self._catalog.module(i) for i in s.plan) if m is not None and m.exam is not None]
        for module in candidates:
            progress = s.progress.get(module.id)
            if progress and progress.participation_at and not progress.certificate_at:
                s.step, s.module_id, s.index = Step.EXAM_INTRO, module.id, 0
                self._prompt(t)
                return
        self._say(t, "exam.none_open")
        self._prompt(t)

    # -- choosing an option --------------------------------------------------------------------

    def _choose(self, t: _Turn, index: int, labels: list[str]) -> None:
        s = t.state
        handler: dict[Step, Callable[[_Turn, int], None]] = {
            Step.CONSENT: self._choose_consent,
            Step.ROLE: self._choose_role,
            Step.CHECK_INTRO: self._choose_check_intro,
            Step.CHECK: self._choose_check,
            Step.PLAN: self._choose_plan,
            Step.PLAN_DROP: self._choose_plan_drop,
            Step.PLAN_MOVE: self._choose_plan_move,
            Step.IDLE: self._choose_menu,
            Step.UNIT: self._choose_unit,
            Step.EVALUATION: lambda t, i: self._record_evaluation(t, labels[i], rating=i + 1),
            Step.QUIZ: self._choose_quiz,
            Step.EXAM_INTRO: self._choose_exam_intro,
            Step.EXAM: self._choose_exam,
            Step.ERASE_CONFIRM: self._choose_erase,
            Step.LANGUAGE: lambda t, i: self._set_language(t, LANGUAGES[i]),
            Step.PUSH_OFFER: self._choose_push_offer,
            Step.REVIEW: self._choose_review,
            Step.SETTINGS: self._choose_settings,
            Step.SETTINGS_TIME: lambda t, i: self._set_push_time(t, [time(7, 30), time(9), time(12, 30), time(15)][i]),
            Step.SETTINGS_FREQUENCY: lambda t, i: self._set_days(t, FREQUENCY_DAYS[i]),
            Step.ATTENDANCE: self._choose_attendance,
            Step.DEPARTMENT: self._choose_department,
        }
        handler[s.step](t, index)

    def _choose_consent(self, t: _Turn, index: int) -> None:
        s = t.state
        if index == 0:
            s.consent_at = t.now.isoformat()
            s.step = Step.ROLE
            self._say(t, "consent.thanks")
            self._prompt(t)
        elif index == 1:
            t.effects.append(EraseRequested())
            t.erased = True
            self._say(t, "consent.declined")
        else:
            self._say(t, "consent.details")
            self._prompt(t)

    def _choose_role(self, t: _Turn, index: int) -> None:
        s = t.state
        s.role_id = self._catalog.roles[index].id
        s.step = Step.DEPARTMENT if t.tenant.departments else Step.INTERESTS
        self._prompt(t)

    def _choose_department(self, t: _Turn, index: int) -> None:
        s = t.state
        departments = t.tenant.departments
        s.department = departments[index] if index < len(departments) else ""
        if s.resume_step is None and not s.interests and not s.check_done_at and not s.plan:
            s.step = Step.INTERESTS  # onboarding goes on
        else:
            s.step, s.resume_step = s.resume_step or Step.IDLE, None
            self._say(t, "department.set", department=s.department or self._t(t, "department.none"))
        self._prompt(t)

    def _cmd_department(self, t: _Turn) -> None:
        s = t.state
        if not t.tenant.departments:
            self._say(t, "department.not_asked")
            self._prompt(t)
            return
        if s.step != Step.DEPARTMENT:
            s.resume_step = s.step if s.step not in (Step.PUSH_OFFER, Step.REVIEW) else Step.IDLE
        s.step = Step.DEPARTMENT
        self._prompt(t)

    def _choose_interests(self, t: _Turn, indices: list[int]) -> None:
        s = t.state
        s.interests = [self._catalog.interests[i].id for i in indices]
        s.step = Step.CHECK_INTRO
        self._prompt(t)

    def _choose_check_intro(self, t: _Turn, index: int) -> None:
        s = t.state
        if index == 0:
            s.step, s.index = Step.CHECK, len(s.check_answers)
            if s.index >= len(self.check.items):
                self._finish_check(t)
                return
            self._prompt(t)
        else:
            s.step = Step.IDLE
            self._say(t, "check.later")
            self._prompt(t)

    def _choose_check(self, t: _Turn, index: int) -> None:
        s = t.state
        item = self.check.items[s.index]
        s.check_answers[item.id] = self.check.answer_value(item, index)
        s.index += 1
        if s.index < len(self.check.items):
            self._prompt(t)
        else:
            self._finish_check(t)

    def _finish_check(self, t: _Turn) -> None:
        s = t.state
        role = self._catalog.role(s.role_id)
        results = self.check.results(s.check_answers, dict(role.targets) if role else {})
        s.levels = {r.area: r.level for r in results}
        s.check_done_at = t.now.isoformat()
        self._show_results(t, results)
        s.plan = [suggestion.module.id for suggestion in self.plans.suggest(s, t.now)]
        s.dropped = []
        s.plan_accepted = False
        s.step, s.index = Step.PLAN, 0
        self._prompt(t)

    def _show_results(self, t: _Turn, results: list[AreaResult]) -> None:
        lines = [self._t(t, "check.result_title")]
        for result in results:
            values = {"area": self._area_title(t, result.area), "level": result.level, "target": result.target or "–"}
            if result.gap:
                lines.append(self._t(t, "check.result_line_gap", **values))
            else:
                lines.append(self._t(t, "check.result_line_ok", **values))
        lines.append("")
        lines.append(self._t(t, "check.result_private"))
        t.messages.append(TextMessage("\n".join(lines)))

    def _show_plan(self, t: _Turn) -> None:
        s = t.state
        if not s.plan:
            self._say(t, "plan.empty")
            return
        lines = [self._t(t, "plan.title")]
        for number, module_id in enumerate(s.plan, start=1):
            module = self._catalog.module(module_id)
            if module is None:
                continue
            reasons = self.plans.explain(s, module, t.now.date())
            reason = self._reason_text(t, reasons)
            lines.append(self._t(t, "plan.line", number=number, module=module.title.get(s.lang), hours=_hours(module.hours), reason=reason))
        t.messages.append(TextMessage("\n".join(lines)))

    def _reason_text(self, t: _Turn, reasons: tuple[Reason, ...]) -> str:
        parts = []
        for reason in reasons:
            match reason.kind:
                case "mandatory" if reason.due is not None:
                    parts.append(self._t(t, "plan.reason.mandatory", date=self._format_date(t, reason.due)))
                case "gap":
                    area = self._area_title(t, reason.subject)
                    parts.append(self._t(t, "plan.reason.gap", area=area, level=reason.level, target=reason.target))
                case "interest":
                    interest = next((i for i in self._catalog.interests if i.id == reason.subject), None)
                    title = interest.title.get(t.state.lang) if interest else reason.subject
                    parts.append(self._t(t, "plan.reason.interest", interest=title))
                case "prerequisite":
                    parts.append(self._t(t, "plan.reason.prerequisite", module=self._module_title(t, reason.subject)))
                case "deepen":
                    parts.append(self._t(t, "plan.reason.deepen"))
        return self._t(t, "plan.because", reasons=self._t(t, "plan.and").join(parts))

    def _choose_plan(self, t: _Turn, index: int) -> None:
        s = t.state
        if index == 0:
            s.plan_accepted = True
            s.step = Step.IDLE
            self._say(t, "plan.accepted")
            t.messages.append(TextMessage(self._schedule_summary(t) + "\n" + self._t(t, "settings.hint")))
            self._prompt(t)
        elif not s.plan:
            self._say(t, "plan.empty")
            self._prompt(t)
        else:
            s.step = Step.PLAN_DROP if index == 1 else Step.PLAN_MOVE
            self._prompt(t)

    def _plan_edit(self, t: _Turn, said: str) -> bool:
        """'streiche 2' or '3 nach vorne' typed while the plan is shown."""
        s = t.state
        drop, move = DROP_PATTERN.match(said), MOVE_PATTERN.match(said)
        if drop is None and move is None:
            return False
        raw = drop.group(1) if drop else (move.group(1) or move.group(2) if move else "")
        number = int(raw[:6])
        if not 1 <= number <= len(s.plan):
            self._say(t, "input.out_of_range", number=number, count=len(s.plan))
            self._prompt(t)
            return True
        s.step = Step.PLAN_DROP if drop else Step.PLAN_MOVE
        (self._choose_plan_drop if drop else self._choose_plan_move)(t, number - 1)
        return True

    def _choose_plan_drop(self, t: _Turn, index: int) -> None:
        s = t.state
        s.step = Step.PLAN
        if index < len(s.plan):
            module = self._catalog.module(s.plan[index])
            if module is not None and module.mandatory is not None:
                self._say(t, "plan.mandatory_kept", module=module.title.get(s.lang))
            else:
                dropped = s.plan.pop(index)
                s.dropped.append(dropped)
                self._say(t, "plan.dropped", module=self._module_title(t, dropped))
        self._prompt(t)

    def _choose_plan_move(self, t: _Turn, index: int) -> None:
        s = t.state
        s.step = Step.PLAN
        if index < len(s.plan):
            module_id = s.plan.pop(index)
            s.plan.insert(0, module_id)
            self._say(t, "plan.moved", module=self._module_title(t, module_id))
        self._prompt(t)

    def _choose_menu(self, t: _Turn, index: int) -> None:
        [self._cmd_next, self._cmd_status, self._cmd_plan, self._cmd_help][index](t)

    # -- units, evaluations, quizzes, exams ---------------------------------------------------

    def _due_again(self, s: LearnerState, module: Module, today: date) -> bool:
        """A yearly training done before and due again: this year's round starts from the first unit."""
        return module.mandatory is not None and module.id in s.mandatory_done and not self.plans.is_finished(s, module, today)

    def _upcoming_unit(self, s: LearnerState, today: date) -> tuple[Module, int] | None:
        """The module and unit number "weiter" would start, without starting it."""
        for module_id in s.plan:
            module = self._catalog.module(module_id)
            if module is None:
                continue
            if self._due_again(s, module, today):
                return module, 0
            progress = s.progress.get(module_id)
            done = progress.units_done if progress else 0
            if done < len(module.units):
                return module, done
        return None

    def _next_unit(self, t: _Turn) -> None:
        s = t.state
        if not s.plan:
            self._say(t, "next.no_plan")
            s.plan = [suggestion.module.id for suggestion in self.plans.suggest(s, t.now)]
            self._leave_for(t, Step.PLAN)
            return
        today = t.now.date()
        upcoming = self._upcoming_unit(s, today)
        if upcoming is not None:
            module, number = upcoming
            if self._due_again(s, module, today):
                s.progress[module.id] = ModuleProgress()
            s.step, s.module_id, s.index = Step.UNIT, module.id, number
            self._prompt(t, full=True)
            return
        self._say(t, "next.all_done")
        self._prompt(t)

    def _current_unit(self, s: LearnerState) -> Unit:
        module = self._module(s)
        return module.units[s.module_progress(module.id).units_done]

    def _send_unit(self, t: _Turn) -> None:
        s, lang = t.state, t.state.lang
        module = self._module(s)
        unit = self._current_unit(s)
        header = self._t(
            t, "unit.header", module=module.title.get(lang), n=s.module_progress(module.id).units_done + 1,
            total=len(module.units), title=unit.title.get(lang), minutes=unit.minutes,
        )
        t.messages.append(TextMessage(f"{header}\n\n{unit.body.get(lang).strip()}"))

    def _choose_unit(self, t: _Turn, index: int) -> None:
        if index == 0:
            self._start_evaluation(t)
        else:
            t.state.step = Step.IDLE
            self._say(t, "unit.later")

    def _evaluation_questions(self, s: LearnerState) -> list[EvaluationQuestion]:
        evaluation = self._catalog.evaluations[self._module(s).evaluation]
        return list(evaluation.questions)

    def _start_evaluation(self, t: _Turn) -> None:
        s = t.state
        s.step, s.index = Step.EVALUATION, 0
        self._say(t, "evaluation.intro")
        self._prompt(t)

    def _record_evaluation(self, t: _Turn, answer: str, rating: int | None = None) -> None:
        s = t.state
        question = self._evaluation_questions(s)[s.index]
        unit = self._current_unit(s)
        value = str(rating) if question.kind == "rating" and rating is not None else answer
        if question.kind == "text" and answer.strip() == "-":
            value = ""
        s.module_progress(s.module_id).evaluations.setdefault(unit.id, {})[question.id] = value
        s.index += 1
        if s.index < len(self._evaluation_questions(s)):
            self._prompt(t)
            return
        self._say(t, "evaluation.thanks")
        s.index = 0
        if self._unit_quiz(s):
            s.step = Step.QUIZ
            self._prompt(t)
        else:
            self._finish_unit(t)

    def _unit_quiz(self, s: LearnerState) -> list[Question]:
        module = self._module(s)
        return self.quiz.unit_questions(module.quiz, s.module_progress(module.id).units_done, len(module.units))

    def _current_question(self, s: LearnerState) -> Question:
        if s.step == Step.EXAM:
            return self._exam(s).items[s.index]
        return self._unit_quiz(s)[s.index]

    def _choose_quiz(self, t: _Turn, index: int) -> None:
        s = t.state
        question = self._current_question(s)
        s.module_progress(s.module_id).quiz[question.id] = self._grade(t, question, index)
        s.index += 1
        if s.index < len(self._unit_quiz(s)):
            self._prompt(t)
        else:
            self._finish_unit(t)

    def _grade(self, t: _Turn, question: Question, index: int) -> bool:
        """Feedback on a quiz or review answer; the answer also updates the item's review card."""
        result = self.quiz.grade_answer(question, index, t.state.lang)
        t.effects.append(Reviewed(question.id, result.correct))
        if result.correct:
            self._say(t, "quiz.correct", explanation=result.explanation)
        else:
            right = question.options[result.correct_option - 1].get(t.state.lang)
            self._say(t, "quiz.wrong", number=result.correct_option, answer=right, explanation=result.explanation)
        return result.correct

    def _finish_unit(self, t: _Turn) -> None:
        s = t.state
        module = self._module(s)
        progress = s.module_progress(module.id)
        progress.units_done += 1
        s.index = 0
        if progress.units_done < len(module.units):
            s.step = Step.IDLE
            self._say(t, "unit.finished", next=module.units[progress.units_done].title.get(s.lang))
            self._prompt(t)
            return
        if progress.participation_at is None and self._attendance_missing(s, module):
            # All units done, but the module's live tutorial is part of it too.
            held = self._held_tutorial(module, t.now)
            s.step = Step.IDLE
            if held is not None:
                self._ask_attendance(t, held)
                return
            self._say_attendance_pending(t, module, missed=False)
            self._prompt(t)
            return
        self._after_units(t, module)

    def _after_units(self, t: _Turn, module: Module) -> None:
        """All units and (where there is one) the live tutorial done: confirmation, then the exam."""
        s = t.state
        progress = s.module_progress(module.id)
        self._confirm_participation(t, module)
        if module.exam is not None and progress.certificate_at is None:
            s.module_id, s.index = module.id, 0
            s.step = Step.EXAM_INTRO
            self._prompt(t)
            return
        if module.mandatory is not None:
            self._complete_mandatory(t, module)
        s.step = Step.IDLE
        self._prompt(t)

    def _confirm_participation(self, t: _Turn, module: Module) -> None:
        progress = t.state.module_progress(module.id)
        if progress.participation_at is None:
            progress.participation_at = t.now.isoformat()
            if module.mandatory is None:
                self._achieve(t, module, "participation")
                self._say(t, "module.participation", module=module.title.get(t.state.lang))

    # -- live tutorials: attendance ------------------------------------------------------------

    def _attendance_missing(self, s: LearnerState, module: Module) -> bool:
        tutorials = self._catalog.tutorials_for(module.id)
        return module.mandatory is None and bool(tutorials) and not any(tut.id in s.attended for tut in tutorials)

    def _held_tutorial(self, module: Module, now: datetime) -> Tutorial | None:
        """The latest of the module's tutorials that has begun."""
        held = [tut for tut in self._catalog.tutorials_for(module.id) if tut.starts_at <= now]
        return held[-1] if held else None

    def _ask_attendance(self, t: _Turn, tutorial: Tutorial) -> None:
        s = t.state
        if s.step != Step.ATTENDANCE:
            s.resume_step = s.step if s.step not in (Step.IDLE, Step.PUSH_OFFER, Step.REVIEW) else None
        s.step, s.attendance_tutorial = Step.ATTENDANCE, tutorial.id
        self._prompt(t)

    def _say_attendance_pending(self, t: _Turn, module: Module, *, missed: bool) -> None:
        """What is still missing for the confirmation, with the next date if there is one."""
        upcoming = [tut for tut in self._catalog.tutorials_for(module.id) if tut.starts_at > t.now]
        title = module.title.get(t.state.lang)
        if not upcoming:
            self._say(t, "attendance.no_date", module=title)
            return
        tutorial = upcoming[0]
        values = {"module": title, "title": tutorial.title.get(t.state.lang), "when": self._moment(t, tutorial.starts_at)}
        if missed:
            self._say(t, "attendance.missed", **values)
        else:
            self._say(t, "attendance.units_done", **values)

    def _choose_attendance(self, t: _Turn, index: int) -> None:
        s = t.state
        tutorial = self._tutorials[s.attendance_tutorial]
        module = self._catalog.module(tutorial.module)
        resume, s.resume_step, s.attendance_tutorial = s.resume_step, None, ""
        s.step = resume or Step.IDLE
        if module is None:
            self._prompt(t)
            return
        if index == 1:
            self._say_attendance_pending(t, module, missed=True)
            self._prompt(t)
            return
        s.attended[tutorial.id] = t.now.isoformat()
        self._say(t, "attendance.thanks")
        progress = s.progress.get(module.id)
        if progress is not None and progress.units_done >= len(module.units) and progress.participation_at is None:
            if resume is None:
                self._after_units(t, module)  # the confirmation, then the exam if there is one
                return
            self._confirm_participation(t, module)  # the learner was in the middle of something: back to it
        self._prompt(t)

    def _cmd_attended(self, t: _Turn) -> None:
        """The learner says they attended a tutorial: asked back about the one that fits."""
        s = t.state
        for module_id in s.plan:
            module = self._catalog.module(module_id)
            if module is not None and self._attendance_missing(s, module):
                held = self._held_tutorial(module, t.now)
                if held is not None:
                    self._ask_attendance(t, held)
                    return
        self._say(t, "attendance.nothing_held")
        self._prompt(t)

    def attendance_question(self, state: LearnerState, tutorial: Tutorial, now: datetime) -> list[Outgoing]:
        """After a live tutorial: was the learner there? Nothing if they said so already."""
        module = self._catalog.module(tutorial.module)
        if module is None or not self._attendance_missing(state, module) or state.consent_at is None:
            return []
        t = _Turn(state, now)
        self._say(t, "attendance.after")
        self._ask_attendance(t, tutorial)
        return t.messages

    def _complete_mandatory(self, t: _Turn, module: Module, score: float | None = None) -> None:
        s = t.state
        months = module.mandatory.recurrence_months if module.mandatory else 12
        s.mandatory_done[module.id] = t.now.isoformat()
        next_due = add_months(t.now.date(), months)
        self._achieve(t, module, "mandatory", score=score, next_due=next_due)
        self._say(t, "module.mandatory_done", module=module.title.get(s.lang), date=self._format_date(t, next_due))

    def _achieve(self, t: _Turn, module: Module, kind: AchievementKind, score: float | None = None, next_due: date | None = None) -> None:
        t.effects.append(Achievement(module.id, kind, t.now, module.hours, tuple(module.competences), score, next_due))

    def _choose_exam_intro(self, t: _Turn, index: int) -> None:
        s = t.state
        if index == 0:
            s.step, s.index = Step.EXAM, 0
            s.module_progress(s.module_id).exam_answers.clear()
            self._prompt(t)
        else:
            s.step = Step.IDLE
            self._say(t, "exam.later")

    def _choose_exam(self, t: _Turn, index: int) -> None:
        s = t.state
        module, exam = self._module(s), self._exam(s)
        progress = s.module_progress(module.id)
        progress.exam_answers[self._current_question(s).id] = index + 1
        s.index += 1
        if s.index < len(exam.items):
            self._prompt(t)
            return
        result = self.quiz.grade_exam(exam, progress.exam_answers)
        progress.exam_attempts += 1
        progress.exam_best = max(progress.exam_best or 0.0, result.score)
        progress.exam_answers.clear()
        percent = round(result.score * 100)
        s.step, s.index = Step.IDLE, 0
        if result.passed:
            progress.certificate_at = t.now.isoformat()
            self._say(t, "exam.passed", correct=result.correct, total=result.total, percent=percent)
            if module.mandatory is not None:
                self._complete_mandatory(t, module, score=result.score)
            else:
                self._achieve(t, module, "certificate", score=result.score)
                self._say(t, "module.certificate", module=module.title.get(s.lang))
        else:
            needed = round(exam.pass_threshold * 100)
            self._say(t, "exam.failed", correct=result.correct, total=result.total, percent=percent, needed=needed)
        self._prompt(t)

    # -- schedule: settings, snooze, vacation ------------------------------------------------

    def _moment(self, t: _Turn, moment: datetime) -> str:
        """A push moment as the learner reads it, in local time."""
        local = moment.astimezone(self.agenda.local_zone)
        if t.state.lang == "de":
            return format_datetime(local, "EEEE, d. MMMM, H:mm 'Uhr'", locale="de_DE")
        return format_datetime(local, "EEEE, d MMMM, HH:mm", locale="en_GB")

    def _schedule_summary(self, t: _Turn) -> str:
        s = t.state
        days = [self._t(t, f"weekday.{d}") for d in sorted(s.push_days) if d < 5] or [self._t(t, f"weekday.{d}") for d in range(5)]
        joined = days[0] if len(days) == 1 else ", ".join(days[:-1]) + self._t(t, "list.and") + days[-1]
        lines = [self._t(t, "settings.summary", days=joined, time=_clock(self.agenda.push_time(s)))]
        upcoming = self.agenda.next_push(s, t.tenant, t.now)
        if s.pushes_stopped:
            lines.append(self._t(t, "settings.stopped"))
        elif upcoming is not None:
            lines.append(self._t(t, "settings.next", when=self._moment(t, upcoming)))
        if s.vacation_until and date.fromisoformat(s.vacation_until) >= self.agenda.local_date(t.now):
            lines.append(self._t(t, "settings.vacation", date=self._format_date(t, date.fromisoformat(s.vacation_until))))
        return "\n".join(lines)

    def _cmd_settings(self, t: _Turn) -> None:
        s = t.state
        if s.step not in (Step.SETTINGS, Step.SETTINGS_TIME, Step.SETTINGS_FREQUENCY, Step.SETTINGS_DAYS):
            s.resume_step = s.step
        s.step = Step.SETTINGS
        self._prompt(t)

    def _choose_settings(self, t: _Turn, index: int) -> None:
        s = t.state
        if index == 3:
            s.step = s.resume_step if s.resume_step not in (None, Step.PUSH_OFFER, Step.REVIEW) else Step.IDLE
            s.resume_step = None
            self._say(t, "settings.saved")
            self._prompt(t)
            return
        s.step = (Step.SETTINGS_TIME, Step.SETTINGS_FREQUENCY, Step.SETTINGS_DAYS)[index]
        self._prompt(t)

    def _set_push_time(self, t: _Turn, wanted: time) -> None:
        quiet = self.agenda.rules.quiet
        if quiet.contains(wanted):
            self._say(t, "settings.time_quiet", start=_clock(quiet.start), end=_clock(quiet.end))
            self._prompt(t)
            return
        t.state.push_time = f"{wanted.hour:02d}:{wanted.minute:02d}"
        t.state.snoozed_until = None
        t.state.step = Step.SETTINGS
        self._prompt(t)

    def _set_days(self, t: _Turn, days: list[int]) -> None:
        t.state.push_days = sorted(set(days))
        t.state.snoozed_until = None
        t.state.step = Step.SETTINGS
        self._prompt(t)

    def _choose_days(self, t: _Turn, indices: list[int]) -> None:
        self._set_days(t, indices)

    def _schedule_phrase(self, t: _Turn, text: str) -> bool:
        """Snoozes ("später", "morgen", "in 2 Stunden"), vacations ("Urlaub bis 3.1.") and a
        typed push time in the settings; True if the text was one."""
        s = t.state
        if s.step == Step.SETTINGS_TIME:
            clock = CLOCK_PATTERN.fullmatch(text.strip().lower())
            if clock is not None:
                hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
                if hour < 24 and minute < 60:
                    self._set_push_time(t, time(hour, minute))
                else:
                    self._say(t, "settings.time_invalid")
                    self._prompt(t)
                return True
        if s.step in (Step.EVALUATION, Step.QUIZ, Step.EXAM, Step.CHECK):
            return False  # an answer is expected; "morgen" here is no request to be left alone
        vacation = parse_vacation(text, self.agenda.local_date(t.now))
        if vacation is not None:
            s.vacation_until, s.snoozed_until = vacation.until.isoformat(), None
            self._leave_push(t)
            resume = self.agenda.next_push(s, t.tenant, t.now)
            self._say(t, "vacation.set", date=self._format_date(t, vacation.until), when=self._moment(t, resume) if resume else "–")
            return True
        snooze = parse_snooze(text)
        if snooze is None:
            return False
        self._snooze(t, snooze)
        return True

    def _snooze(self, t: _Turn, snooze: Snooze) -> None:
        s = t.state
        vacation = date.fromisoformat(s.vacation_until) if s.vacation_until else None
        until = snooze_until(
            snooze, t.now, self.agenda.prefs(s), self.agenda.calendar(t.tenant), self.agenda.rules.quiet, vacation_until=vacation,
        )
        s.snoozed_until = until.isoformat()
        self._leave_push(t)
        self._say(t, "snooze.set", when=self._moment(t, until))

    def _leave_push(self, t: _Turn) -> None:
        if t.state.step in (Step.PUSH_OFFER, Step.REVIEW):
            t.state.step, t.state.review_item = Step.IDLE, ""

    # -- pushes: the bot comes to the learner ------------------------------------------------

    def _choose_push_offer(self, t: _Turn, index: int) -> None:
        if index == 0:
            t.state.step = Step.IDLE
            self._next_unit(t)
        else:
            self._snooze(t, Snooze("later" if index == 1 else "tomorrow"))

    def _review_question(self, s: LearnerState) -> Question:
        module, position = self._quiz_items[s.review_item]
        return module.quiz[position]

    def _choose_review(self, t: _Turn, index: int) -> None:
        s = t.state
        self._grade(t, self._review_question(s), index)
        s.review_item = ""
        s.step = Step.PUSH_OFFER if self._upcoming_unit(s, self.agenda.local_date(t.now)) else Step.IDLE
        self._prompt(t)

    def push(self, state: LearnerState, now: datetime, tenant: TenantPolicy, review_item: str | None = None) -> list[Outgoing]:
        """The scheduled push: a review question or the next unit's offer. Empty if there is nothing to do."""
        t = _Turn(state, now, tenant)
        if state.step not in (Step.IDLE, Step.PUSH_OFFER, Step.REVIEW):
            # In the middle of something: remind of it, do not start anything new.
            self._say(t, "push.resume")
            self._prompt(t)
            return t.messages
        if review_item is not None and review_item in self._quiz_items:
            module, position = self._quiz_items[review_item]
            state.step, state.review_item, state.module_id, state.index = Step.REVIEW, review_item, module.id, position
            self._say(t, "push.review_intro")
            self._prompt(t)
            return t.messages
        upcoming = self._upcoming_unit(state, self.agenda.local_date(now))
        if upcoming is None:
            return []
        module, number = upcoming
        unit = module.units[number]
        state.step, state.module_id, state.index = Step.PUSH_OFFER, module.id, number
        self._say(
            t, "push.unit", module=module.title.get(state.lang), title=unit.title.get(state.lang), minutes=unit.minutes,
            n=number + 1, total=len(module.units),
        )
        self._prompt(t)
        return t.messages

    def nudge(self, state: LearnerState, now: datetime) -> list[Outgoing]:
        t = _Turn(state, now)
        self._say(t, "push.nudge")
        return t.messages

    def tutorial_reminder(self, state: LearnerState, tutorial: Tutorial, now: datetime, *, soon: bool) -> list[Outgoing]:
        t = _Turn(state, now)
        values = {
            "title": tutorial.title.get(state.lang), "when": self._moment(t, tutorial.starts_at), "link": str(tutorial.join_url),
            "minutes": tutorial.minutes,
        }
        if soon:
            self._say(t, "tutorial.soon", **values)
            return t.messages
        self._say(t, "tutorial.tomorrow", **values)
        ics = tutorial_ics(tutorial, state.lang, now)
        t.messages.append(FileMessage(f"{tutorial.id}.ics", "text/calendar", ics, self._t(t, "tutorial.ics_caption")))
        return t.messages

    def mandatory_reminder(self, state: LearnerState, module: Module, due: date, now: datetime) -> list[Outgoing]:
        t = _Turn(state, now)
        days = (due - self.agenda.local_date(now)).days
        title = module.title.get(state.lang)
        if days < 0:
            self._say(t, "mandatory.overdue", module=title, date=self._format_date(t, due))
        else:
            self._say(t, "mandatory.reminder", module=title, date=self._format_date(t, due), days=days)
        return t.messages

    def _choose_erase(self, t: _Turn, index: int) -> None:
        s = t.state
        if index == 0:
            t.effects.append(EraseRequested())
            t.erased = True
            self._say(t, "erase.done")
            issued = sum(bool(p.participation_at) + bool(p.certificate_at) for p in s.progress.values()) + len(s.mandatory_done)
            if issued and t.tenant.retention_years:
                until = add_months(t.now.date(), 12 * t.tenant.retention_years)
                self._say(t, "erase.retained", count=issued, date=self._format_date(t, until), tenant=t.tenant.name)
            return
        s.step = s.resume_step or Step.IDLE
        s.resume_step = None
        self._say(t, "erase.kept")
        self._prompt(t)


def _clock(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"


def _hours(hours: float) -> str:
    return f"{hours:g}"

