"""Typed models of the content files under ``dialogs/``.

Content is data written by authors, so every model forbids unknown keys: a
typo in a key is an error with file and line, never silently ignored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
AreaCode = Annotated[str, StringConstraints(pattern=r"^[1-9]$")]
CompetenceCode = Annotated[str, StringConstraints(pattern=r"^[1-9]\.[1-9]$")]
ProficiencyLevel = Annotated[int, Field(ge=1, le=8)]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ShortString = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]

LANGUAGES: tuple[str, ...] = ("de", "en")


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(ch.isspace() for ch in value):
        raise ValueError("must be an https:// URL")
    return value


HttpsUrl = Annotated[str, AfterValidator(_https_url)]


class ContentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(ContentModel):
    """A text in every language the bot speaks; German is the default."""

    de: NonEmpty
    en: NonEmpty

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.de


class ShortText(Text):
    """A text that fits in a chat message or a calendar entry: at most 400 characters per language."""

    de: ShortString
    en: ShortString


class Level(ContentModel):
    level: ProficiencyLevel
    category: Text
    description: Text


class Competence(ContentModel):
    code: CompetenceCode
    title: Text


class Area(ContentModel):
    code: AreaCode
    title: Text
    description: Text
    competences: Annotated[list[Competence], Field(min_length=1)]

    @model_validator(mode="after")
    def _competences_belong_to_area(self) -> Area:
        for competence in self.competences:
            if not competence.code.startswith(f"{self.code}."):
                raise ValueError(f"competence {competence.code} does not belong to area {self.code}")
        return self


class Framework(ContentModel):
    id: Identifier
    title: Text
    attribution: Text
    levels: Annotated[list[Level], Field(min_length=1)]
    areas: Annotated[list[Area], Field(min_length=1)]


class Question(ContentModel):
    """A single-choice question; ``correct`` is the 1-based number of the right option."""

    id: Identifier
    prompt: Text
    options: Annotated[list[Text], Field(min_length=2, max_length=6)]
    correct: Annotated[int, Field(ge=1)]
    explanation: Text

    @model_validator(mode="after")
    def _correct_is_an_option(self) -> Question:
        if self.correct > len(self.options):
            raise ValueError(f"correct is {self.correct} but there are only {len(self.options)} options")
        return self


class ScaleStep(ContentModel):
    label: Text
    level: ProficiencyLevel


class SelfAssessmentItem(ContentModel):
    id: Identifier
    area: AreaCode
    statement: Text


class KnowledgeItem(Question):
    area: AreaCode
    level: ProficiencyLevel


class CheckItems(ContentModel):
    """The competency check: a self-assessment scale, statements and knowledge items."""

    intro: Text
    scale: Annotated[list[ScaleStep], Field(min_length=2, max_length=6)]
    self_assessment: Annotated[list[SelfAssessmentItem], Field(min_length=1)]
    knowledge: Annotated[list[KnowledgeItem], Field(min_length=1)]


class Role(ContentModel):
    id: Identifier
    title: Text
    description: Text
    targets: dict[AreaCode, ProficiencyLevel]


class Interest(ContentModel):
    id: Identifier
    title: Text


class Roles(ContentModel):
    roles: Annotated[list[Role], Field(min_length=1)]
    interests: Annotated[list[Interest], Field(min_length=1)]


class EvaluationQuestion(ContentModel):
    id: Identifier
    prompt: Text
    kind: Literal["rating", "choice", "text"]
    options: list[Text] = []

    @model_validator(mode="after")
    def _options_match_kind(self) -> EvaluationQuestion:
        if self.kind == "choice" and len(self.options) < 2:
            raise ValueError("a choice question needs at least 2 options")
        if self.kind != "choice" and self.options:
            raise ValueError(f"a {self.kind} question takes no options")
        return self


class EvaluationSet(ContentModel):
    id: Identifier
    title: Text
    questions: Annotated[list[EvaluationQuestion], Field(min_length=1)]


class Unit(ContentModel):
    id: Identifier
    title: Text
    minutes: Annotated[int, Field(ge=1, le=10)]
    body: Text


class Exam(ContentModel):
    pass_threshold: Annotated[float, Field(gt=0, le=1)]
    items: Annotated[list[Question], Field(min_length=3)]


class Mandatory(ContentModel):
    recurrence_months: Annotated[int, Field(ge=1, le=60)]
    legal_basis: Text


class Module(ContentModel):
    id: Identifier
    title: Text
    summary: Text
    areas: Annotated[list[AreaCode], Field(min_length=1)]
    competences: Annotated[list[CompetenceCode], Field(min_length=1)]
    level: ProficiencyLevel
    hours: Annotated[float, Field(gt=0, le=40)]
    interests: list[Identifier] = []
    prerequisites: list[Identifier] = []
    mandatory: Mandatory | None = None
    evaluation: Identifier
    units: Annotated[list[Unit], Field(min_length=3)]
    quiz: Annotated[list[Question], Field(min_length=5)]
    exam: Exam | None = None


class Tutorial(ContentModel):
    """A live online session on a module, at a fixed moment (``starts_at`` carries its UTC offset)."""

    id: Identifier
    module: Identifier
    title: Text
    starts_at: AwareDatetime
    minutes: Annotated[int, Field(ge=15, le=240)]
    join_url: HttpsUrl
    description: ShortText

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.minutes)


class Tutorials(ContentModel):
    tutorials: list[Tutorial]
