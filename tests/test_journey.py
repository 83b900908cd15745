"""The whole learner journey through the core and an in-memory channel."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from campusbot.app import Core
from campusbot.content.catalog import Catalog
from campusbot.core.clock import FixedClock
from campusbot.core.messages import LearnerId
from campusbot.storage.rows import AchievementRow
from tests.support import RecordingBot, Reply, after_tutorial, answer_check, onboard, study_units


def achievements(core: Core) -> list[tuple[str, str]]:
    with core.store.engine.connect() as connection:
        rows = connection.execute(select(AchievementRow.module_id, AchievementRow.kind).order_by(AchievementRow.issued_at))
        return [(r.module_id, r.kind) for r in rows]


def test_greeting_explains_what_the_bot_stores_and_asks_for_consent(bot: RecordingBot) -> None:
    reply = bot.say("Hallo")
    assert "campusbot" in reply.text
    assert "speichere" in reply.text
    assert [o.label for o in reply.choice.options] == ["Ja, einverstanden", "Nein", "Mehr zum Datenschutz"]


def test_declining_consent_stores_nothing(bot: RecordingBot, core: Core) -> None:
    bot.say("Hallo")
    reply = bot.say("nein")
    assert "nichts" in reply.text
    with core.store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM learner").scalar_one() == 0


def test_commands_before_consent_ask_for_consent_first(bot: RecordingBot) -> None:
    bot.say("Hallo")
    reply = bot.say("weiter")
    assert "Einverständnis" in reply.text
    assert reply.choice.choice_id.startswith("consent:")


def test_check_result_shows_level_next_to_role_target(bot: RecordingBot, catalog: Catalog) -> None:
    onboard(bot, role="1")
    bot.say("starten")
    reply = answer_check(bot, catalog, self_level="2", knowledge_right=False)
    role = catalog.roles[0]
    for area in catalog.framework.areas:
        # self level 2 and no knowledge item right: (2 + 1) / 2 rounds up to 2.
        assert f"{area.title.de}: Stufe 2 (Ziel {role.targets[area.code]})" in reply.text
    assert "Dieses Ergebnis sehen nur Sie." in reply.text


def test_good_answers_raise_the_level(bot: RecordingBot, catalog: Catalog) -> None:
    onboard(bot, role="1")
    bot.say("starten")
    reply = answer_check(bot, catalog, self_level="4", knowledge_right=True)
    # self level 6 ("Ich kann es anderen erklären") and the hardest knowledge item right
    area = catalog.framework.areas[0]
    hardest = max(k.level for k in catalog.check.knowledge if k.area == area.code)
    expected = int((6 + hardest) / 2 + 0.5)
    assert f"{area.title.de}: Stufe {expected} " in reply.text


def test_plan_gives_a_reason_for_every_suggestion(bot: RecordingBot, catalog: Catalog) -> None:
    onboard(bot, role="1", interests="7")
    bot.say("starten")
    reply = answer_check(bot, catalog)
    plan_lines = [line for line in reply.text.splitlines() if line[:1].isdigit() and ". " in line[:4]]
    assert len(plan_lines) >= 3
    assert all("weil" in line for line in plan_lines)
    # Mandatory trainings come first, with their deadline (enrolled 23.11.2026 + 4 weeks).
    assert "Pflichtunterweisung" in plan_lines[0]
    assert "fällig ist" in plan_lines[0]
    assert "21.12.2026" in plan_lines[0]
    # The learner's interest in AI pulls in its prerequisite (Datenschutz) before it.
    titles = [line.split(". ", 1)[1] for line in plan_lines]
    ki = next(i for i, t in enumerate(titles) if t.startswith("KI in der Verwaltung"))
    datenschutz = next(i for i, t in enumerate(titles) if t.startswith("Datenschutz in der Verwaltung"))
    assert datenschutz < ki
    assert "interessieren" in titles[ki]


def test_plan_can_be_reordered_and_shortened(bot: RecordingBot, catalog: Catalog) -> None:
    onboard(bot, role="1", interests="7")
    bot.say("starten")
    reply = answer_check(bot, catalog)
    lines = [line for line in reply.text.splitlines() if line[:2] in {f"{n}." for n in range(1, 10)}]
    last_title = lines[-1].split(". ", 1)[1].split(" (")[0]
    reply = bot.say(f"{len(lines)} nach vorne")
    assert f"„{last_title}“ steht jetzt an erster Stelle." in reply.text
    assert f"1. {last_title}" in reply.text
    # Mandatory trainings cannot be dropped.
    mandatory_line = next(i for i, line in enumerate(reply.text.splitlines()) if "Pflichtunterweisung" in line and line[0].isdigit())
    number = reply.text.splitlines()[mandatory_line].split(".")[0]
    reply = bot.say(f"streiche {number}")
    assert "bleibt im Plan" in reply.text
    # Dropping through the menu: option 2, then the module's number.
    bot.say("2")
    reply = bot.say("1")
    assert f"„{last_title}“ ist aus Ihrem Plan gestrichen." in reply.text
    reply = bot.say("Plan annehmen")
    assert "Ihr Plan steht" in reply.text


def finish_onboarding(bot: RecordingBot, catalog: Catalog) -> None:
    onboard(bot, role="1", interests="2")
    bot.say("starten")
    answer_check(bot, catalog)


def move_to_front(bot: RecordingBot, title: str) -> None:
    reply = bot.say("plan")
    line = next(line for line in reply.text.splitlines() if line[:1].isdigit() and title in line)
    bot.say(f"{line.split('.')[0]} nach vorne")
    bot.say("1")


def test_unit_evaluation_quiz_and_participation_confirmation(bot: RecordingBot, core: Core, catalog: Catalog) -> None:
    finish_onboarding(bot, catalog)
    module = catalog.module("datenschutz")
    assert module is not None
    assert module.exam is None
    move_to_front(bot, module.title.de)
    for number, unit in enumerate(module.units):
        reply = bot.say("weiter")
        assert f"Einheit {number + 1} von {len(module.units)}: {unit.title.de}" in reply.text
        assert unit.body.de.strip()[:60] in reply.text
        reply = bot.say("fertig")
        assert "Auswertung 1 von 3" in reply.text
        bot.say("4")
        bot.say("2")
        reply = bot.say("Sehr verständlich, danke.")
        assert "Danke für Ihre Rückmeldung!" in reply.text
        questions = [q for i, q in enumerate(module.quiz) if i % len(module.units) == number]
        for index, question in enumerate(questions):
            assert question.prompt.de in reply.text
            right = index % 2 == 0
            answer = question.correct if right else question.correct % len(question.options) + 1
            reply = bot.tap(str(answer))
            if right:
                assert reply.text.startswith("Richtig!")
            else:
                assert f"Leider nicht. Richtig ist {question.correct}" in reply.text
            assert question.explanation.de in reply.text
    # The module's live tutorial is part of it: no confirmation before it took place.
    assert "Zum Modul gehört auch die Live-Sprechstunde" in reply.text
    assert "am Mittwoch, 9. Dezember, 14:00 Uhr" in reply.text
    assert achievements(core) == []
    assert f"- {module.title.de}: 3 von 3 Einheiten · es fehlt noch die Live-Sprechstunde" in bot.say("status").text
    assert "keine Live-Sprechstunde, die schon stattgefunden hat" in bot.say("teilgenommen").text
    # When it is over, the scheduler asks whether the learner was there.
    tutorial = catalog.tutorials_for(module.id)[0]
    clock = bot.channel.clock
    assert isinstance(clock, FixedClock)
    clock.advance(tutorial.starts_at + timedelta(minutes=tutorial.minutes, seconds=1) - clock.now())
    with core.store.transaction() as tx:
        core.pushes.run_batch(tx, 100)
    asked = Reply(bot.channel.drain("memory:anna"))
    assert f"Waren Sie bei „{tutorial.title.de}“ am Mittwoch, 9. Dezember, 14:00 Uhr dabei?" in asked.text
    bot.last = asked
    reply = bot.say("nein")
    assert "noch kein weiterer Termin" in reply.text
    assert achievements(core) == []
    # Said later: "teilgenommen" brings the question back.
    assert bot.say("teilgenommen").asks("attendance")
    reply = bot.say("ja")
    assert "Ihre Teilnahme ist vermerkt" in reply.text
    assert "Teilnahmebestätigung ist vermerkt" in reply.text
    assert achievements(core) == [("datenschutz", "participation")]
    with core.store.transaction() as tx:
        assert ("tutorial", f"{tutorial.id}:after") not in tx.agenda(LearnerId(1))  # asked no more


def test_passing_the_exam_records_a_certificate(bot: RecordingBot, core: Core, catalog: Catalog) -> None:
    after_tutorial(bot, catalog, "informationssicherheit")
    finish_onboarding(bot, catalog)
    module = catalog.module("informationssicherheit")
    assert module is not None
    assert module.exam is not None
    move_to_front(bot, module.title.de)
    reply = study_units(bot, len(module.units), quiz_answer="a")
    assert reply.asks("attendance")  # the tutorial took place already: asked right away
    reply = bot.say("ja")
    assert "Prüfung mit 5 Fragen" in reply.text
    assert "70 %" in reply.text
    # First attempt: all wrong, so not passed; the exam can be retaken.
    bot.say("Jetzt starten")
    for item in module.exam.items:
        reply = bot.say(str(item.correct % len(item.options) + 1))
    assert "nicht bestanden: 0 von 5" in reply.text
    reply = bot.say("prüfung")
    assert "Prüfung mit 5 Fragen" in reply.text
    bot.say("1")
    for item in module.exam.items:
        reply = bot.say(str(item.correct))
    assert "Bestanden! 5 von 5" in reply.text
    assert "Zertifikat" in reply.text
    assert achievements(core) == [("informationssicherheit", "participation"), ("informationssicherheit", "certificate")]
    status = bot.say("status")
    assert f"- {module.title.de}: 3 von 3 Einheiten · Zertifikat" in status.text


def test_mandatory_training_records_completion_with_next_due_date(bot: RecordingBot, core: Core, catalog: Catalog) -> None:
    finish_onboarding(bot, catalog)
    module = catalog.module("pflicht-informationssicherheit")
    assert module is not None
    assert module.mandatory is not None
    move_to_front(bot, module.title.de)
    reply = study_units(bot, len(module.units), quiz_answer="b")
    assert "Die nächste ist fällig am 23.11.2027" in reply.text
    assert achievements(core) == [("pflicht-informationssicherheit", "mandatory")]


def test_status_help_language_and_pause(bot: RecordingBot, catalog: Catalog) -> None:
    onboard(bot)
    bot.say("starten")
    bot.say("2")
    reply = bot.say("Status")
    assert "Kompetenzcheck: bei Frage 2 von 20" in reply.text
    reply = bot.say("hilfe")
    assert "„weiter“" in reply.text
    assert "„löschen“" in reply.text
    assert reply.choice.choice_id == "check::1"
    reply = bot.say("english")
    assert "English from now on" in reply.text
    assert "Question 2 of 20" in reply.text
    reply = bot.say("pause")
    assert "break is saved" in reply.text
    reply = bot.say("next")
    assert "Question 2 of 20" in reply.text
    reply = bot.say("Sprache")
    reply = bot.say("Deutsch")
    assert "auf Deutsch" in reply.text
    assert "Frage 2 von 20" in reply.text


def test_export_contains_all_personal_data(bot: RecordingBot, catalog: Catalog) -> None:
    finish_onboarding(bot, catalog)
    reply = bot.say("export")
    [export] = reply.files
    assert export.mimetype == "application/json"
    data = json.loads(export.data)
    learner = data["learner"]
    assert learner["identities"] == [{"channel": "memory", "external_id": "anna", "address": "memory:anna"}]
    assert learner["state"]["role_id"] == catalog.roles[0].id
    assert len(learner["state"]["check_answers"]) == 20
    assert learner["state"]["plan"]


def test_a_poll_answer_for_an_old_question_is_not_taken(bot: RecordingBot) -> None:
    bot.say("Hallo")
    old = bot.last.choice
    bot.say("ja")
    stale = bot.channel.deliver("anna", kind="choice", choice_id=old.choice_id, option_keys=("2",))
    assert "nicht mehr offen" in "\n".join(getattr(m, "text", "") for m in stale)
    reply = bot.tap("2")
    assert reply.choice.choice_id.startswith("interests:")


def test_open_conversation_resumes_where_the_learner_left_off(bot: RecordingBot) -> None:
    onboard(bot)
    bot.say("starten")
    reply = bot.open()
    assert "Willkommen zurück" in reply.text
    assert "Frage 1 von 20" in reply.text


def test_english_learner_gets_english_throughout(core: Core, catalog: Catalog) -> None:
    from campusbot.channels.memory import MemoryChannel

    bot = RecordingBot(MemoryChannel(core.turns, core.store, core.clock), user="ben", lang="en")
    reply = bot.say("hello")
    assert "Do you agree?" in reply.text
    bot.say("yes")
    reply = bot.say("2")
    assert "Which topics" in reply.text
    bot.say("none")
    bot.say("start")
    reply = answer_check(bot, catalog)
    assert "Your learning plan" in reply.text
    assert "because" in reply.text


def test_a_yearly_training_comes_back_before_it_is_due_again(bot: RecordingBot, core: Core, catalog: Catalog) -> None:
    from datetime import timedelta

    from campusbot.core.clock import FixedClock

    finish_onboarding(bot, catalog)
    module = catalog.module("pflicht-informationssicherheit")
    assert module is not None
    move_to_front(bot, module.title.de)
    study_units(bot, len(module.units))
    assert isinstance(core.clock, FixedClock)
    # A month later it is done for this year: 'weiter' goes on with the next module.
    core.clock.advance(timedelta(days=30))
    assert module.title.de not in bot.say("weiter").text.split("\n")[0]
    bot.say("später")
    # Eleven months on, within the lead time before the due date, it starts again.
    core.clock.advance(timedelta(days=300))
    reply = bot.say("weiter")
    assert f"**{module.title.de}** · Einheit 1 von 3" in reply.text
