"""Matrix rendering: spec-valid events, escaped learner text, polls in both forms."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from campusbot.channels.matrix.render import (
    file_content,
    learner_text,
    notice_content,
    parse_poll_response,
    poll_end_content,
    poll_start_content,
    to_html,
)
from campusbot.core.messages import ChoiceMessage, Option

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "matrix"
SCHEMAS = CORPUS / "data" / "event-schemas" / "schema"


def spec_validator(schema_file: str) -> jsonschema.Draft202012Validator:
    def retrieve(uri: str) -> Resource[Any]:
        return Resource.from_contents(yaml.safe_load(Path(uri.removeprefix("file://")).read_text()), default_specification=DRAFT202012)

    schema = yaml.safe_load((SCHEMAS / schema_file).read_text())
    schema["$id"] = f"file://{SCHEMAS / schema_file}"
    return jsonschema.Draft202012Validator(schema, registry=Registry(retrieve=retrieve))  # type: ignore[call-arg]


def as_event(event_type: str, content: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": event_type, "content": content, "event_id": "$e:localhost", "room_id": "!r:localhost",
        "sender": "@campusbot:localhost", "origin_server_ts": 1_700_000_000_000, "unsigned": {},
    }


def test_a_notice_validates_against_the_spec_schema() -> None:
    content = notice_content("**Ihr Stand**\n\n- Modul A: 1 von 3\n- Modul B\n\nWeiter so.")
    errors = [e.message for e in spec_validator("m.room.message$m.notice.yaml").iter_errors(as_event("m.room.message", content))]
    assert errors == []
    assert content["body"] == "Ihr Stand\n\n- Modul A: 1 von 3\n- Modul B\n\nWeiter so."
    expected = "<p><strong>Ihr Stand</strong></p><ul><li>Modul A: 1 von 3</li><li>Modul B</li></ul><p>Weiter so.</p>"
    assert content["formatted_body"] == expected
    assert content["m.mentions"] == {}


def test_the_schema_check_can_fail() -> None:
    content = notice_content("x")
    del content["body"]
    assert list(spec_validator("m.room.message$m.notice.yaml").iter_errors(as_event("m.room.message", content)))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


@pytest.mark.parametrize(
    "learner_says",
    ["<script>alert(1)</script>", '<a href="javascript:x">klick</a>', "<img src=x onerror=alert(1)>", "**<b>fett</b>**", "a & b < c"],
)
def test_learner_text_is_escaped_and_only_allowed_tags_appear(learner_says: str) -> None:
    rendered = to_html(f"Sie schrieben: {learner_says}")
    parser = _Tags()
    parser.feed(rendered)
    allowed = set(json.loads((CORPUS / "html" / "allowed_html.json").read_text())["allowed_tags"])
    assert parser.tags <= allowed
    assert parser.tags <= {"p", "strong", "ul", "li", "br"}
    assert html.escape(learner_says.replace("**", ""), quote=False) in rendered.replace("<strong>", "").replace("</strong>", "")


def choice() -> ChoiceMessage:
    return ChoiceMessage("check::3", "Frage 4 von 20\n\nWie gut trifft das zu?", (Option("1", "Gar nicht"), Option("2", "Gut")))


def test_poll_start_has_the_shape_element_renders() -> None:
    example = json.loads((CORPUS / "polls_msc3381" / "unstable_org.matrix.msc3381.poll.start.json").read_text())
    content = poll_start_content(choice())
    poll = content["org.matrix.msc3381.poll.start"]
    assert set(poll) == set(example["content"]["org.matrix.msc3381.poll.start"])
    assert poll["kind"] == "org.matrix.msc3381.poll.disclosed"
    assert poll["max_selections"] == 1
    assert set(poll["answers"][0]) == set(example["content"]["org.matrix.msc3381.poll.start"]["answers"][0])
    assert content["org.matrix.msc1767.text"].endswith("\n1. Gar nicht\n2. Gut")


def test_poll_end_matches_the_example() -> None:
    example = json.loads((CORPUS / "polls_msc3381" / "unstable_org.matrix.msc3381.poll.end.json").read_text())
    content = poll_end_content("$poll", "Beendet")
    assert set(example["content"]) <= set(content)
    assert content["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$poll"}


def test_poll_responses_are_read_in_both_forms() -> None:
    answer_id = poll_start_content(choice())["org.matrix.msc3381.poll.start"]["answers"][1]["id"]
    for name in ("unstable_org.matrix.msc3381.poll.response.json", "stable_m.poll.response.json"):
        event = json.loads((CORPUS / "polls_msc3381" / name).read_text())
        content = event["content"]
        if "m.selections" in content:
            content["m.selections"] = [answer_id]
        else:
            content["org.matrix.msc3381.poll.response"]["answers"] = [answer_id]
        parsed = parse_poll_response(event["type"], content)
        assert parsed is not None
        assert (parsed.choice_id, parsed.option_keys) == ("check::3", ("2",))
        assert parsed.poll_event_id == content["m.relates_to"]["event_id"]


def test_foreign_and_empty_poll_responses_are_ignored() -> None:
    relates = {"rel_type": "m.reference", "event_id": "$p"}
    assert parse_poll_response("m.poll.response", {"m.relates_to": relates, "m.selections": []}) is None
    assert parse_poll_response("m.poll.response", {"m.relates_to": relates, "m.selections": ["pizza"]}) is None
    assert parse_poll_response("m.room.message", {"body": "x"}) is None


def test_rich_reply_fallback_is_stripped() -> None:
    content = {
        "body": "> <@campusbot:localhost> Frage 1\n> Wie gut?\n\nB",
        "formatted_body": "<mx-reply><blockquote>Frage 1</blockquote></mx-reply>B",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}},
    }
    assert learner_text(content) == "B"
    assert learner_text({"body": "> kein Zitat, sondern Text"}) == "> kein Zitat, sondern Text"


def test_file_content_validates_against_the_spec() -> None:
    plain = file_content("daten.json", "application/json", 12, "Ihre Daten", "mxc://localhost/abc", None)
    errors = [e.message for e in spec_validator("m.room.message$m.file.yaml").iter_errors(as_event("m.room.message", plain))]
    assert errors == []
    encrypted = file_content("daten.json", "application/json", 12, "", None, {"url": "mxc://localhost/abc", "v": "v2"})
    assert "url" not in encrypted
    assert encrypted["file"]["url"] == "mxc://localhost/abc"
