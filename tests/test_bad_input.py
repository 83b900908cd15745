"""Bad input gets a short, friendly answer in the learner's language and changes nothing."""

from __future__ import annotations

import pytest

from campusbot.content.catalog import Catalog
from tests.support import RecordingBot, onboard


@pytest.fixture
def at_role_question(bot: RecordingBot) -> RecordingBot:
    bot.say("Hallo")
    bot.say("ja")
    return bot


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("", "keine Nachricht"),
        ("   ", "keine Nachricht"),
        ("x" * 50_000, "zu lang"),
        ("🙂👍", "nicht verstanden"),
        ("<b>1</b><script>alert(1)</script>", "nicht verstanden"),
        ("**fett** [link](javascript:alert(1))", "nicht verstanden"),
        ("0", "Die 0 gibt es hier nicht"),
        ("99", "Die 99 gibt es hier nicht"),
        ("99999999999999999999", "gibt es hier nicht"),
        ("g", "nicht verstanden"),
        ("Bürgermeisterin", "nicht verstanden"),
    ],
)
def test_bad_answers_are_explained_and_the_question_repeated(at_role_question: RecordingBot, said: str, expected: str) -> None:
    reply = at_role_question.say(said)
    assert expected in reply.text
    assert reply.choice.choice_id == "role::0"
    # Nothing was lost: the question still takes a proper answer.
    assert "Welche Themen" in at_role_question.say("1").text


@pytest.mark.parametrize(
    "said",
    ["Führungskraft", "fuehrungskraft", "FÜHRUNGSKRAFT", "Fürhungskraft", "2", "b", "B)", " 2. "],
)
def test_tolerant_answers_choose_the_right_option(at_role_question: RecordingBot, catalog: Catalog, said: str) -> None:
    assert catalog.roles[1].title.de == "Führungskraft"
    reply = at_role_question.say(said)
    assert "Welche Themen" in reply.text


def test_commands_tolerate_typos_and_umlauts(bot: RecordingBot) -> None:
    onboard(bot)
    assert "So sprechen Sie mit mir" in bot.say("Hilfee").text
    assert "So sprechen Sie mit mir" in bot.say("?").text
    assert "wirklich alle Ihre Daten löschen" in bot.say("loeschen").text
    assert "bleibt alles" in bot.say("Nein").text
    assert "Ihr Stand" in bot.say("STATUS").text


def test_a_long_free_text_answer_is_kept_but_cut(bot: RecordingBot, catalog: Catalog) -> None:
    from tests.support import answer_check

    onboard(bot)
    bot.say("starten")
    answer_check(bot, catalog)
    bot.say("1")
    bot.say("weiter")
    bot.say("fertig")
    reply = bot.say("3")
    assert "Überspringen" in reply.text
    reply = bot.say("<i>Toll</i> " + "sehr gut " * 6000)
    assert "Danke für Ihre Rückmeldung!" in reply.text
    export = bot.say("export").files[0].data.decode()
    assert "<i>Toll</i>" in export
    assert len(export) < 20_000


def test_an_internal_error_gets_a_polite_answer_and_no_stack_trace(bot: RecordingBot, monkeypatch: pytest.MonkeyPatch) -> None:
    bot.say("Hallo")
    engine = bot.channel.turns._engine  # the real engine, made to fail once

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "turn", broken)
    reply = bot.say("ja")
    assert "etwas schiefgegangen" in reply.text
    assert "boom" not in reply.text
    assert "Traceback" not in reply.text
    monkeypatch.undo()
    assert "Welche Rolle" in bot.say("ja").text


def test_hallo_after_the_greeting_is_greeted_not_misunderstood(bot: RecordingBot) -> None:
    bot.open()  # the greeting on join
    reply = bot.say("Hallo")
    assert reply.text.startswith("Hallo! Schön, dass Sie da sind.")
    assert "nicht verstanden" not in reply.text
    assert "Sind Sie damit einverstanden?" in reply.text
