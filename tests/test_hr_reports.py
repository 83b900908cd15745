"""HR reports: groups under five are suppressed; only HR members get answers; the CSV has no scores."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from campusbot.app import build_core
from campusbot.channels.memory import MemoryChannel
from campusbot.config import Settings, TenantSettings
from campusbot.content.catalog import Catalog
from campusbot.core.clock import FixedClock
from campusbot.core.enrolment import code_hash
from campusbot.core.hr_reports import HrReports
from campusbot.core.messages import FileMessage, TextMessage
from campusbot.core.tenants import TenantPolicy
from campusbot.i18n import GettextTexts
from tests.support import RecordingBot, after_tutorial, answer_check, onboard, study_units

KREIS = TenantPolicy("kreis", "Landkreis Beispiel", "HE")
HR = "@personal:kreis.example"


def test_summary_suppresses_a_group_of_four_and_shows_a_group_of_five(
    tmp_path: Path, db_url: str, clock: FixedClock, catalog: Catalog, texts: GettextTexts,
) -> None:
    tenants = [TenantSettings(id="kreis", name="Landkreis Beispiel", state="HE", servers=["kreis.example"])]
    core = build_core(Settings(data_dir=tmp_path, tenants=tenants), clock=clock, database_url=db_url, catalog=catalog, texts=texts)
    module = catalog.module("datenschutz")
    assert module is not None
    for n in range(9):  # five in one role, four in another
        bot = RecordingBot(MemoryChannel(core.turns, core.store, clock, tenant_id="kreis"), user=f"person{n}")
        after_tutorial(bot, catalog, module.id)  # its live tutorial is over: they were there
        onboard(bot, role="1" if n < 5 else "2")
        bot.say(f"Mein Name ist Person {n}")
        bot.say("starten")
        answer_check(bot, catalog)
        reply = bot.say("plan")
        line = next(line for line in reply.text.splitlines() if line[:1].isdigit() and module.title.de in line)
        bot.say(f"{line.split('.')[0]} nach vorne")
        bot.say("1")
        study_units(bot, len(module.units))
        assert "Teilnahmebestätigung ist vermerkt" in bot.say("ja").text  # "Waren Sie dabei?"
    reports = HrReports(catalog, texts, clock)
    with core.store.transaction() as tx:
        [answer] = reports.handle(tx, KREIS, frozenset({HR}), HR, "zusammenfassung") or []
        [refused] = reports.handle(tx, KREIS, frozenset({HR}), "@someone:kreis.example", "zusammenfassung") or []
        [export] = reports.handle(tx, KREIS, frozenset({HR}), HR, "export") or []
        assert reports.handle(tx, KREIS, frozenset({HR}), HR, "guten morgen allerseits") is None  # talk, not a command
    assert isinstance(answer, TextMessage)
    roles = [r.title.de for r in catalog.roles]
    assert f"- **{module.title.de}**: 9" in answer.text
    assert f"  - {roles[0]}: 5" in answer.text
    assert f"  - {roles[1]}: weniger als 5" in answer.text
    assert "Person 0" not in answer.text  # counts, no names
    assert isinstance(refused, TextMessage)
    assert "nur für Mitglieder der Personalstelle" in refused.text
    assert isinstance(export, FileMessage)
    rows = list(csv.reader(io.StringIO(export.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Name", "Bereich", "Modul", "Art", "Datum", "Unterrichtseinheiten", "Nächste Fälligkeit", "Widerrufen"]
    assert sorted(r[0] for r in rows[1:]) == [f"Person {n}" for n in range(9)]
    assert {r[3] for r in rows[1:]} == {"Teilnahmebestätigung"}
    core.store.engine.dispose()


def test_hr_members_get_invitation_codes_that_enrol_into_their_municipality(
    tmp_path: Path, db_url: str, clock: FixedClock, catalog: Catalog, texts: GettextTexts,
) -> None:
    core = build_core(Settings(data_dir=tmp_path), clock=clock, database_url=db_url, catalog=catalog, texts=texts)
    reports = HrReports(catalog, texts, clock)
    with core.store.transaction() as tx:
        [answer] = reports.handle(tx, KREIS, frozenset({HR}), HR, "Einladungscodes 3") or []
        [refused] = reports.handle(tx, KREIS, frozenset({HR}), "@someone:kreis.example", "einladungscodes") or []
        [too_many] = reports.handle(tx, KREIS, frozenset({HR}), HR, "codes 500") or []
    assert isinstance(answer, TextMessage)
    codes = re.findall(r"^- ([A-Z2-9]{5}-[A-Z2-9]{5})$", answer.text, re.MULTILINE)
    assert len(set(codes)) == 3
    assert "Landkreis Beispiel" in answer.text
    assert "23.12.2026" in answer.text  # valid for 30 days
    assert isinstance(refused, TextMessage)
    assert "nur für Mitglieder der Personalstelle" in refused.text
    assert isinstance(too_many, TextMessage)
    assert "1 bis 50" in too_many.text
    with core.store.transaction() as tx:
        redeemed = [tx.redeem_enrolment_code(code_hash(code), clock.now()) for code in codes]
        again = tx.redeem_enrolment_code(code_hash(codes[0]), clock.now())
    assert [r.tenant_id if r else None for r in redeemed] == ["kreis"] * 3
    assert again is None


def test_where_the_tenant_has_departments_learners_give_theirs_and_the_summary_counts_by_them(
    tmp_path: Path, db_url: str, clock: FixedClock, catalog: Catalog, texts: GettextTexts,
) -> None:
    departments = ["Bürgeramt", "Bauamt"]
    tenants = [TenantSettings(id="kreis", name="Landkreis Beispiel", state="HE", servers=["kreis.example"], departments=departments)]
    core = build_core(Settings(data_dir=tmp_path, tenants=tenants), clock=clock, database_url=db_url, catalog=catalog, texts=texts)
    module = catalog.module("projektmanagement")
    assert module is not None
    assert not catalog.tutorials_for(module.id)
    for n in range(10):  # five in the Bürgeramt, four in the Bauamt, one says nothing
        bot = RecordingBot(MemoryChannel(core.turns, core.store, clock, tenant_id="kreis"), user=f"person{n}")
        bot.say("Hallo")
        bot.say("ja")
        asked = bot.say("1")
        assert asked.asks("department")
        assert [o.label for o in asked.choice.options] == ["Bürgeramt", "Bauamt", "Keine Angabe"]
        assert bot.say("Bürgeramt" if n < 5 else "bauamt" if n < 9 else "keine angabe").asks("interests")
        bot.say("keine")
        bot.say("starten")
        answer_check(bot, catalog)
        reply = bot.say("plan")
        lines = [line for line in reply.text.splitlines() if line[:1].isdigit()]
        if not any(module.title.de in line for line in lines):
            bot.say(f"{module.title.de} hinzufügen")
            reply = bot.say("plan")
            lines = [line for line in reply.text.splitlines() if line[:1].isdigit()]
        line = next(line for line in lines if module.title.de in line)
        bot.say(f"{line.split('.')[0]} nach vorne")
        bot.say("1")
        study_units(bot, len(module.units))
    reports = HrReports(catalog, texts, clock)
    policy = TenantPolicy("kreis", "Landkreis Beispiel", "HE", departments=tuple(departments))

    def summary() -> str:
        with core.store.transaction() as tx:
            [answer] = reports.handle(tx, policy, frozenset({HR}), HR, "zusammenfassung") or []
        assert isinstance(answer, TextMessage)
        return answer.text

    text = summary()
    assert "(Personen je Modul und Bereich)" in text
    assert f"- **{module.title.de}**: 10" in text
    assert "  - Bürgeramt: 5" in text
    assert "  - Bauamt: weniger als 5" in text
    assert "  - ohne Angabe: weniger als 5" in text
    assert "Gezählt nach Bereich" in text
    # The learner who gave none changes their mind later: "abteilung" asks again.
    assert bot.say("abteilung").asks("department")
    assert "Ihr Bereich: Bauamt." in bot.say("2").text
    assert "  - Bauamt: 5" in summary()
