"""xAPI Statements for the LRS: valid against the corpus schema, shaped like the spec's samples, pseudonymous, no scores."""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from campusbot.content.catalog import Catalog
from campusbot.hr.model import HrNoticeData, NoticeKind
from campusbot.hr.xapi import DIGCOMP_CONCEPTS, StatementError, statement_for, statement_id

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
XAPI = CORPORA / "xapi"
SCENARIOS = XAPI / "cmi5-samples" / "samples" / "scenarios"
COMPLETED_SAMPLE = SCENARIOS / "06-completed-completed" / "04-completed_statement.json"
PASSED_SAMPLE = SCENARIOS / "07-passed-passed" / "04-passed_statement.json"
SCHEMA_FILE = XAPI / "json-schema" / "ralph_BaseXapiStatement.schema.json"
SCHEMA_URI = SCHEMA_FILE.as_uri()
PROFILE_URI = "urn:campusbot:test:xapi-completion-profile"

HOMEPAGE = "https://lernen.musterstadt.de"
BASE = "https://lernen.musterstadt.de/campusbot"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
COURSE = "http://adlnet.gov/expapi/activities/course"
COMPLETION_KINDS: tuple[NoticeKind, ...] = ("participation", "mandatory", "certificate")


def corpus_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    # pydantic renders the RootModels IRI and LanguageTag as anyOf [constraint, $ref to itself]. The self-reference
    # adds nothing (its least fixed point is the constraint alone) but makes jsonschema recurse until RecursionError
    # on every value that fails the constraint, so no bad IRI could ever be reported. Drop just that branch.
    for name in ("IRI", "LanguageTag"):
        definition = schema["$defs"][name]
        kept = [branch for branch in definition["anyOf"] if branch != {"$ref": f"#/$defs/{name}"}]
        assert len(kept) == len(definition["anyOf"]) - 1 == 1, f"the corpus schema's {name} changed shape"
        definition["anyOf"] = kept
    return schema


# What the corpus schema cannot say about our Statements: the rules of this channel, as a JSON Schema on top of it.
PROFILE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "allOf": [{"$ref": SCHEMA_URI}],
    "required": ["id", "actor", "verb", "object", "result", "context", "timestamp"],
    "not": {"required": ["version"]},
    "properties": {
        "actor": {
            "required": ["objectType", "account"],
            "properties": {"objectType": {"const": "Agent"}},
            "not": {"anyOf": [{"required": [ifi]} for ifi in ("mbox", "mbox_sha1sum", "openid")]},
        },
        "verb": {"required": ["id", "display"], "properties": {"id": {"enum": [COMPLETED, PASSED]}}},
        "object": {
            "required": ["objectType", "id", "definition"],
            "properties": {
                "objectType": {"const": "Activity"},
                "definition": {"required": ["type"], "properties": {"type": {"const": COURSE}}},
            },
        },
        "result": {"required": ["completion"], "properties": {"completion": {"const": True}}, "not": {"required": ["score"]}},
        "context": {"required": ["platform", "language"]},
        "timestamp": {"pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"},
    },
    "if": {"properties": {"verb": {"properties": {"id": {"const": PASSED}}}}},
    "then": {"properties": {"result": {"required": ["success"], "properties": {"success": {"const": True}}}}},
    "else": {"properties": {"result": {"not": {"required": ["success"]}}}},
}

# No retrieve function: a $ref to anything not registered here fails instead of going to the network.
REGISTRY: Registry[Any] = Registry().with_resources(
    [(SCHEMA_URI, DRAFT202012.create_resource(corpus_schema())), (PROFILE_URI, DRAFT202012.create_resource(PROFILE))]
)


FORMATS = jsonschema.FormatChecker()
if "date-time" not in FORMATS.checkers:
    # jsonschema checks date-time only with rfc3339-validator installed, which the project does not declare.
    @FORMATS.checks("date-time", raises=ValueError)
    def _rfc3339(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", value):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True


def validator(uri: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": uri}, registry=REGISTRY, format_checker=FORMATS)


CORPUS_SCHEMA = validator(SCHEMA_URI)
OUR_PROFILE = validator(PROFILE_URI)


def errors(check: jsonschema.Draft202012Validator, statement: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in check.iter_errors(statement)]


def notice(**changes: Any) -> HrNoticeData:
    base = HrNoticeData(
        id="hr-notice-0001", tenant_id="musterstadt", kind="participation", learner_name="Erika Mustermann",
        learner_pseudonym="p-7f3a9c2e", personnel_number="P-4711", module_id="datenschutz",
        module_title="Datenschutz in der Verwaltung",
        occurred_at=datetime(2026, 11, 23, 10, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin")),
        hours=2.0, competences=("4.2", "4.1"), next_due=None, due_date=None,
    )
    return dataclasses.replace(base, **changes)


def statement(data: HrNoticeData | None = None, *, identify_by_name: bool = False) -> dict[str, Any]:
    result = statement_for(data or notice(), homepage=HOMEPAGE, activity_base=BASE, identify_by_name=identify_by_name)
    assert result is not None
    return result


def corpus_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def ralph_completed_sample() -> dict[str, Any]:
    lines = (XAPI / "ralph-sample" / "statements_sample.jsonl").read_text(encoding="utf-8").splitlines()
    return next(s for s in map(json.loads, lines) if s["verb"]["id"] == COMPLETED)


def keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)


# --- valid against the corpus schema ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", COMPLETION_KINDS)
@pytest.mark.parametrize("identify_by_name", [False, True])
def test_every_completion_statement_validates_against_the_corpus_schema_and_our_profile(kind: NoticeKind, identify_by_name: bool) -> None:
    data = notice(kind=kind, next_due=date(2027, 11, 23) if kind == "mandatory" else None)
    produced = statement(data, identify_by_name=identify_by_name)
    assert errors(CORPUS_SCHEMA, produced) == []
    assert errors(OUR_PROFILE, produced) == []


def test_a_statement_for_every_catalog_module_validates(catalog: Catalog) -> None:
    for module in catalog.modules:
        data = notice(module_id=module.id, module_title=module.title.de, hours=module.hours, competences=tuple(module.competences))
        produced = statement(data)
        assert errors(CORPUS_SCHEMA, produced) == [], module.id
        assert produced["object"]["id"] == f"{BASE}/modules/{module.id}"


def test_every_framework_competence_has_an_iri(catalog: Catalog) -> None:
    codes = {c.code for area in catalog.framework.areas for c in area.competences}
    assert codes <= DIGCOMP_CONCEPTS.keys()


def test_the_corpus_schema_accepts_the_corpus_samples_we_compare_with() -> None:
    # The control for the negative tests below: the validator is wired up and accepts real Statements.
    for path in (COMPLETED_SAMPLE, PASSED_SAMPLE):
        assert errors(CORPUS_SCHEMA, corpus_json(path)) == [], path.name
    assert errors(CORPUS_SCHEMA, ralph_completed_sample()) == []


# --- the shape of the corpus samples ---------------------------------------------------------------------------


def test_completed_has_the_shape_of_the_cmi5_completed_sample() -> None:
    sample = corpus_json(COMPLETED_SAMPLE)
    produced = statement(notice(kind="participation"), identify_by_name=True)

    assert produced["verb"]["id"] == sample["verb"]["id"] == COMPLETED
    assert produced["verb"]["display"] == {"de-DE": "abgeschlossen", "en-US": "completed"}
    assert produced["actor"].keys() == sample["actor"].keys() == {"objectType", "name", "account"}
    assert produced["actor"]["objectType"] == sample["actor"]["objectType"] == "Agent"
    assert produced["actor"]["account"].keys() == sample["actor"]["account"].keys() == {"homePage", "name"}
    assert produced["object"].keys() == sample["object"].keys() == {"objectType", "id", "definition"}
    assert produced["object"]["objectType"] == sample["object"]["objectType"] == "Activity"
    assert produced["object"]["definition"]["name"] == {"de-DE": "Datenschutz in der Verwaltung"}
    assert produced["result"]["completion"] is sample["result"]["completion"] is True
    assert "success" not in produced["result"]
    assert produced["timestamp"].endswith("Z")
    assert sample["timestamp"].endswith("Z")


def test_mandatory_is_completed_too() -> None:
    produced = statement(notice(kind="mandatory", module_id="pflicht-datenschutz"))
    assert produced["verb"]["id"] == COMPLETED
    assert produced["result"] == {"completion": True}


def test_passed_has_the_shape_of_the_cmi5_passed_sample() -> None:
    sample = corpus_json(PASSED_SAMPLE)
    produced = statement(notice(kind="certificate"))

    assert produced["verb"]["id"] == sample["verb"]["id"] == PASSED
    assert produced["verb"]["display"] == {"de-DE": "bestanden", "en-US": "passed"}
    assert produced["result"]["success"] is sample["result"]["success"] is True
    assert produced["result"] == {"completion": True, "success": True}
    assert produced["object"].keys() == sample["object"].keys()
    assert produced["actor"]["account"].keys() == sample["actor"]["account"].keys()


def test_the_pseudonymous_agent_has_the_shape_of_ralphs_anonymised_agents() -> None:
    sample = ralph_completed_sample()
    produced = statement()
    assert produced["actor"].keys() == sample["actor"].keys() == {"objectType", "account"}
    assert produced["actor"]["account"].keys() == sample["actor"]["account"].keys()


def test_the_object_is_a_course_activity_under_the_activity_base() -> None:
    produced = statement()
    assert produced["object"] == {
        "objectType": "Activity",
        "id": "https://lernen.musterstadt.de/campusbot/modules/datenschutz",
        "definition": {"type": COURSE, "name": {"de-DE": "Datenschutz in der Verwaltung"}},
    }
    trailing_slash = statement_for(notice(), homepage=HOMEPAGE, activity_base=BASE + "/")
    assert trailing_slash is not None
    assert trailing_slash["object"]["id"] == produced["object"]["id"]


# --- privacy, identity, idempotency ----------------------------------------------------------------------------


def test_the_agent_is_pseudonymous_by_default() -> None:
    produced = statement()
    assert produced["actor"] == {"objectType": "Agent", "account": {"homePage": HOMEPAGE, "name": "p-7f3a9c2e"}}
    text = json.dumps(produced, ensure_ascii=False)
    assert "Erika" not in text
    assert "Mustermann" not in text
    assert "P-4711" not in text


def test_identify_by_name_adds_the_name_and_keeps_the_account() -> None:
    produced = statement(identify_by_name=True)
    assert produced["actor"] == {
        "objectType": "Agent", "account": {"homePage": HOMEPAGE, "name": "p-7f3a9c2e"}, "name": "Erika Mustermann",
    }
    assert "P-4711" not in json.dumps(produced)


def test_a_blank_name_is_left_out_rather_than_sent_empty() -> None:
    produced = statement(notice(learner_name="  "), identify_by_name=True)
    assert "name" not in produced["actor"]
    assert errors(CORPUS_SCHEMA, produced) == []


def test_no_mbox_or_other_identifier_besides_the_account() -> None:
    for kind in COMPLETION_KINDS:
        for identify_by_name in (False, True):
            found = set(keys(statement(notice(kind=kind), identify_by_name=identify_by_name)))
            assert found.isdisjoint({"mbox", "mbox_sha1sum", "openid"})


@pytest.mark.parametrize("kind", COMPLETION_KINDS)
def test_no_score_anywhere(kind: NoticeKind) -> None:
    produced = statement(notice(kind=kind, next_due=date(2027, 1, 1)), identify_by_name=True)
    assert "score" not in set(keys(produced))
    assert "score" not in json.dumps(produced).lower()


def test_the_same_notice_id_gives_the_same_statement() -> None:
    first = statement(notice())
    again = statement(notice())
    assert first == again
    assert statement(notice(id="hr-notice-0002"))["id"] != first["id"]
    parsed = uuid.UUID(first["id"])
    assert parsed.version == 5
    assert str(parsed) == first["id"]


def test_the_statement_id_namespace_never_changes() -> None:
    # A new namespace would give every notice already delivered a second id, and the LRS would store it twice.
    assert statement_id("hr-notice-0001") == str(uuid.uuid5(uuid.UUID("9e52e4d2-1bda-491f-9df5-3b120cf3ad57"), "hr-notice-0001"))
    assert statement(notice())["id"] == statement_id("hr-notice-0001")


def test_an_overdue_mandatory_training_gives_no_statement() -> None:
    overdue = notice(kind="mandatory_overdue", due_date=date(2026, 11, 1))
    assert statement_for(overdue, homepage=HOMEPAGE, activity_base=BASE) is None
    assert statement_for(overdue, homepage=HOMEPAGE, activity_base=BASE, identify_by_name=True) is None


# --- timestamp and context ---------------------------------------------------------------------------------------


def test_the_timestamp_is_utc_with_milliseconds_and_z() -> None:
    assert statement()["timestamp"] == "2026-11-23T09:30:15.123Z"
    summer = statement(notice(occurred_at=datetime(2026, 7, 1, 0, 15, tzinfo=ZoneInfo("Europe/Berlin"))))
    assert summer["timestamp"] == "2026-06-30T22:15:00.000Z"
    assert statement(notice(occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))["timestamp"] == "2026-01-02T03:04:05.000Z"


def test_a_naive_completion_time_is_refused() -> None:
    with pytest.raises(StatementError, match="occurred_at"):
        statement_for(notice(occurred_at=datetime(2026, 11, 23, 10, 30)), homepage=HOMEPAGE, activity_base=BASE)  # noqa: DTZ001


def test_the_context_carries_hours_and_the_digcomp_competences() -> None:
    assert statement()["context"] == {
        "platform": "campusbot",
        "language": "de-DE",
        "contextActivities": {
            "category": [
                {"objectType": "Activity", "id": "https://w3id.org/kim/digcomp/g_18"},
                {"objectType": "Activity", "id": "https://w3id.org/kim/digcomp/g_19"},
            ]
        },
        "extensions": {"https://lernen.musterstadt.de/campusbot/xapi/extensions/hours": 2.0},
    }


def test_the_next_due_date_goes_only_into_mandatory_statements() -> None:
    due = date(2027, 11, 23)
    mandatory = statement(notice(kind="mandatory", next_due=due))["context"]["extensions"]
    assert mandatory["https://lernen.musterstadt.de/campusbot/xapi/extensions/next-due"] == "2027-11-23"
    for kind in ("participation", "certificate"):
        extensions = statement(notice(kind=kind, next_due=due))["context"]["extensions"]
        assert list(extensions) == ["https://lernen.musterstadt.de/campusbot/xapi/extensions/hours"]


def test_empty_context_parts_are_left_out() -> None:
    context = statement(notice(hours=None, competences=()))["context"]
    assert context == {"platform": "campusbot", "language": "de-DE"}


def test_an_unknown_competence_code_is_refused() -> None:
    with pytest.raises(StatementError, match="competences"):
        statement_for(notice(competences=("4.9",)), homepage=HOMEPAGE, activity_base=BASE)


@pytest.mark.parametrize(("homepage", "activity_base"), [("lernen.musterstadt.de", BASE), (HOMEPAGE, ""), (HOMEPAGE, "campusbot/modules")])
def test_settings_that_give_no_absolute_iri_are_refused(homepage: str, activity_base: str) -> None:
    with pytest.raises(StatementError):
        statement_for(notice(), homepage=homepage, activity_base=activity_base)


def test_the_digcomp_table_matches_the_kim_vocabulary_in_the_corpus() -> None:
    ttl = (CORPORA / "digcomp" / "digcomp.ttl").read_text(encoding="utf-8")
    concept_by_label = {
        label: local
        for local, body in re.findall(r"<https://w3id\.org/kim/digcomp/(g_\d+)>\s+(.*?)\s\.\n", ttl, re.S)
        for label in re.findall(r'skos:prefLabel\s+"([^"]*)"', body)
    }
    with (CORPORA / "digcomp" / "DigComp.csv").open(encoding="utf-8", newline="") as f:
        competences = {row["ShortCode"]: row["Name"] for row in csv.DictReader(f, delimiter=";") if row["Level"] == "2"}
    assert len(competences) == 21
    expected = {code: concept_by_label[name] for code, name in competences.items()}
    assert expected == DIGCOMP_CONCEPTS


# --- mutations the checks must catch -----------------------------------------------------------------------------


def mutated(change: str) -> dict[str, Any]:
    produced = copy.deepcopy(statement(notice(kind="certificate")))
    if change == "drop completion":
        del produced["result"]["completion"]
    elif change == "mbox instead of account":
        del produced["actor"]["account"]
        produced["actor"]["mbox"] = "mailto:erika.mustermann@musterstadt.de"
    elif change == "add a score":
        produced["result"]["score"] = {"scaled": 0.8}
    elif change == "drop success from passed":
        del produced["result"]["success"]
    elif change == "module type":
        produced["object"]["definition"]["type"] = "http://adlnet.gov/expapi/activities/module"
    elif change == "add version":
        produced["version"] = "1.0.0"
    elif change == "offset instead of Z":
        produced["timestamp"] = "2026-11-23T10:30:15.123+01:00"
    return produced


MUTATIONS = (
    "drop completion", "mbox instead of account", "add a score", "drop success from passed", "module type", "add version",
    "offset instead of Z",
)


@pytest.mark.parametrize("change", MUTATIONS)
def test_our_profile_catches_what_the_corpus_schema_allows(change: str) -> None:
    produced = mutated(change)
    # The corpus schema alone would let each of these through; that is why the profile exists.
    assert errors(CORPUS_SCHEMA, produced) == []
    assert errors(OUR_PROFILE, produced) != []


def test_completed_must_not_claim_success() -> None:
    produced = statement(notice(kind="participation"))
    produced["result"]["success"] = True
    assert errors(OUR_PROFILE, produced) != []


def test_an_mbox_next_to_the_account_fails_the_corpus_schema() -> None:
    # Two identifiers for one Agent (xAPI-Data 2.4.2.1: "MUST NOT include more than one").
    produced = statement()
    produced["actor"]["mbox"] = "mailto:erika.mustermann@musterstadt.de"
    assert errors(CORPUS_SCHEMA, produced) != []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("id",), "hr-notice-0001"),
        (("timestamp",), "23.11.2026 10:30"),
        (("object", "id"), "modules/datenschutz"),
        (("verb", "id"), "completed"),
        (("actor", "account", "homePage"), "lernen.musterstadt.de"),
        (("actor", "account", "name"), ""),
        (("result", "completion"), "true"),
        (("object", "definition", "name"), {"de-DE": ""}),
    ],
)
def test_the_corpus_schema_rejects_malformed_values(path: tuple[str, ...], value: Any) -> None:
    produced = statement()
    target = produced
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert errors(CORPUS_SCHEMA, produced) != []
