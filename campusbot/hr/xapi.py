"""xAPI 1.0.3 Statements about completions, for the municipality's learning record store (LRS).

One HR notice becomes at most one Statement. It says who (a pseudonymous account, the real name only
when the tenant chose that), what (completed or passed one module), when, and in which context (hours,
DigComp competences, the next due date of a mandatory training). Never a score, answer or check result:
scores do not leave campusbot without the learner's consent. Overdue mandatory trainings are not learning
experiences and reach HR through the other channels, so they give no Statement.

The Statement id is derived from the notice id, so a retried delivery repeats the same id and the LRS
stores it only once (xAPI-Communication 2.1.2: an LRS "MUST NOT make any modifications to its state based
on receiving a Statement with an id that it already has"). The rest of the Statement is a pure function of
the notice and the arguments, so a retry with the same arguments is also the *same* Statement. An LRS
may still answer a known id with 409 Conflict: delivery then reads the stored Statement back and counts
the notice delivered only if it says the same (``campusbot/hr/delivery.py``).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC
from typing import Any
from urllib.parse import quote, urlsplit

from campusbot.errors import CampusbotError
from campusbot.hr.model import HrNoticeData, NoticeKind

# Namespace of the uuid5 Statement ids: generated once with uuid4 and never to change, or every notice
# already sent would get a second id and be stored twice.
STATEMENT_ID_NAMESPACE = uuid.UUID("9e52e4d2-1bda-491f-9df5-3b120cf3ad57")

VERB_COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VERB_PASSED = "http://adlnet.gov/expapi/verbs/passed"
_VERBS: dict[NoticeKind, tuple[str, dict[str, str]]] = {
    "participation": (VERB_COMPLETED, {"de-DE": "abgeschlossen", "en-US": "completed"}),
    "mandatory": (VERB_COMPLETED, {"de-DE": "abgeschlossen", "en-US": "completed"}),
    "certificate": (VERB_PASSED, {"de-DE": "bestanden", "en-US": "passed"}),
}

# ADL activity types (SCORM profile vocabulary, corpora xapi/vocab/scorm.jsonld). "course" is "an entire
# content package worth of material ... the largest level of granularity"; a campusbot module is exactly
# that (its own units, quiz and exam, nothing above it). "module" means "one level below the course level"
# and would claim a parent course that does not exist.
ACTIVITY_TYPE_COURSE = "http://adlnet.gov/expapi/activities/course"

PLATFORM = "campusbot"
LANGUAGE = "de-DE"

# DigComp 2.2 competences as the SKOS concepts of DINI-AG KIM (dini-ag-kim/digComp, digcomp.ttl), the only
# published IRIs for them. Their local names are opaque row numbers, hence this table; tests/test_xapi.py
# checks it against the corpus copy of that vocabulary.
DIGCOMP_CONCEPT_BASE = "https://w3id.org/kim/digcomp/"
DIGCOMP_CONCEPTS: dict[str, str] = {
    "1.1": "g_2", "1.2": "g_3", "1.3": "g_4",
    "2.1": "g_6", "2.2": "g_7", "2.3": "g_8", "2.4": "g_9", "2.5": "g_10", "2.6": "g_11",
    "3.1": "g_13", "3.2": "g_14", "3.3": "g_15", "3.4": "g_16",
    "4.1": "g_18", "4.2": "g_19", "4.3": "g_20", "4.4": "g_21",
    "5.1": "g_23", "5.2": "g_24", "5.3": "g_25", "5.4": "g_26",
}


class StatementError(CampusbotError):
    """The notice or the LRS settings cannot make a valid Statement (the message says which field)."""


def statement_id(notice_id: str) -> str:
    return str(uuid.uuid5(STATEMENT_ID_NAMESPACE, notice_id))


def digcomp_iri(code: str) -> str:
    try:
        return DIGCOMP_CONCEPT_BASE + DIGCOMP_CONCEPTS[code]
    except KeyError:
        raise StatementError(f"competences: {code!r} is no DigComp 2.2 competence code") from None


def extension_iri(activity_base: str, name: str) -> str:
    """Our own context extensions; a page describing each should be served at this address (xAPI-Data 4.1)."""
    return f"{_base(activity_base)}/xapi/extensions/{name}"


def statement_for(
    notice: HrNoticeData, *, homepage: str, activity_base: str, identify_by_name: bool = False
) -> dict[str, Any] | None:
    """The xAPI Statement for a completion notice, or None for an overdue mandatory training.

    ``homepage`` is the account system's home page (the Agent's ``account.homePage``), ``activity_base``
    the base IRI under which the tenant's modules and our extensions live. ``identify_by_name`` adds the
    learner's real name next to the pseudonymous account; the account itself never changes.
    """
    if notice.kind == "mandatory_overdue":
        return None
    verb_id, display = _VERBS[notice.kind]
    if not notice.learner_pseudonym:
        raise StatementError("learner_pseudonym: empty, the learner cannot be identified")
    _require_absolute(homepage, "homepage")

    actor: dict[str, Any] = {"objectType": "Agent", "account": {"homePage": homepage, "name": notice.learner_pseudonym}}
    # An empty name is no name; Ralph, for one, rejects empty strings.
    if identify_by_name and notice.learner_name.strip():
        actor["name"] = notice.learner_name

    definition: dict[str, Any] = {"type": ACTIVITY_TYPE_COURSE}
    if notice.module_title.strip():
        definition["name"] = {LANGUAGE: notice.module_title}
    if not notice.module_id:
        raise StatementError("module_id: empty")
    activity = {
        "objectType": "Activity",
        "id": f"{_base(activity_base)}/modules/{quote(notice.module_id, safe='')}",
        "definition": definition,
    }

    result: dict[str, Any] = {"completion": True}
    if notice.kind == "certificate":
        result["success"] = True

    return {
        "id": statement_id(notice.id),
        "actor": actor,
        "verb": {"id": verb_id, "display": dict(display)},
        "object": activity,
        "result": result,
        "context": _context(notice, activity_base),
        "timestamp": _timestamp(notice),
    }


def _context(notice: HrNoticeData, activity_base: str) -> dict[str, Any]:
    context: dict[str, Any] = {"platform": PLATFORM, "language": LANGUAGE}
    if notice.competences:
        # Category is xAPI's "tags" (xAPI-Data 2.4.6.2); sorted and deduplicated so that the same
        # notice always gives the same Statement.
        category = [{"objectType": "Activity", "id": digcomp_iri(code)} for code in sorted(set(notice.competences))]
        context["contextActivities"] = {"category": category}
    extensions: dict[str, Any] = {}
    if notice.hours is not None:
        if not math.isfinite(notice.hours) or notice.hours < 0:
            raise StatementError(f"hours: must be a non-negative number, not {notice.hours!r}")
        extensions[extension_iri(activity_base, "hours")] = notice.hours
    if notice.kind == "mandatory" and notice.next_due is not None:
        extensions[extension_iri(activity_base, "next-due")] = notice.next_due.isoformat()
    # xAPI-Data 2.2: no properties with an empty object as value.
    if extensions:
        context["extensions"] = extensions
    return context


def _timestamp(notice: HrNoticeData) -> str:
    if notice.occurred_at.utcoffset() is None:
        raise StatementError("occurred_at: a naive datetime has no defined point in time")
    # xAPI-Data 4.5: ISO 8601, at least milliseconds; UTC so that it reads the same in every LRS.
    return notice.occurred_at.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def _base(activity_base: str) -> str:
    _require_absolute(activity_base, "activity_base")
    return activity_base.rstrip("/")


def _require_absolute(iri: str, name: str) -> None:
    parts = urlsplit(iri)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in iri):
        raise StatementError(f"{name}: {iri!r} is no absolute http(s) IRI")
