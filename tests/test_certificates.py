"""A completed module leaves the learner with a PDF and a signed credential that can be checked."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from campusbot.app import Core, build_core
from campusbot.certificates.credential import verify_credential
from campusbot.certificates.issuer_keys import IssuerKeys
from campusbot.certificates.verification import check_id
from campusbot.channels.memory import MemoryChannel
from campusbot.config import Settings, TenantSettings
from campusbot.content.catalog import Catalog
from campusbot.core.clock import FixedClock
from campusbot.core.messages import FileMessage
from campusbot.i18n import GettextTexts
from campusbot.scheduling.runner import SchedulerRunner
from tests.support import RecordingBot, after_tutorial, answer_check, onboard, study_units


def complete_with_exam(bot: RecordingBot, catalog: Catalog, name: str = "") -> list[FileMessage]:
    """Onboarding, then the information security module, its live tutorial attended and its exam
    passed; the files received. The bot's clock moves to the day of the tutorial first."""
    after_tutorial(bot, catalog, "informationssicherheit")
    onboard(bot)
    if name:
        assert f"lauten auf „{name}“" in bot.say(f"Mein Name ist {name}").text
    bot.say("starten")
    answer_check(bot, catalog)
    module = catalog.module("informationssicherheit")
    assert module is not None
    assert module.exam is not None
    reply = bot.say("plan")
    line = next(line for line in reply.text.splitlines() if line[:1].isdigit() and module.title.de in line)
    bot.say(f"{line.split('.')[0]} nach vorne")
    bot.say("1")
    files: list[FileMessage] = []
    study_units(bot, len(module.units), quiz_answer="a")
    files += bot.last.files
    assert bot.last.asks("attendance"), bot.last.text
    files += bot.say("ja").files
    bot.say("Jetzt starten")
    for item in module.exam.items:
        files += bot.say(str(item.correct)).files
    return files


def cli(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "campusbot.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[store]\nurl = "{db_url}"\n')
    return subprocess.run(
        [sys.executable, "-m", "campusbot", "--config", str(config), "cert", *args],
        capture_output=True, text=True, check=False, timeout=60,
    )


def test_participation_and_certificate_arrive_as_pdf_and_signed_credential(
    bot: RecordingBot, core: Core, catalog: Catalog, tmp_path: Path,
) -> None:
    files = complete_with_exam(bot, catalog, name="Anna Müller-Lüdenscheidt")
    names = [f.filename for f in files]
    assert names == [
        "teilnahmebestaetigung-informationssicherheit.pdf", "teilnahmebestaetigung-informationssicherheit.credential.json",
        "zertifikat-informationssicherheit.pdf", "zertifikat-informationssicherheit.credential.json",
    ]
    assert all(f.data.startswith(b"%PDF") for f in files if f.filename.endswith(".pdf"))
    credential = json.loads(files[3].data)
    assert "OpenBadgeCredential" in credential["type"]
    subject = credential["credentialSubject"]
    assert subject["identifier"][0]["identityHash"] == "Anna Müller-Lüdenscheidt"
    assert {a["targetCode"] for a in subject["achievement"]["alignment"]} == set(catalog.module("informationssicherheit").competences)  # type: ignore[union-attr]
    # The operator's key signed it; the record keeps the credential.
    keys = IssuerKeys(tmp_path / "issuer").verification_keys()
    assert verify_credential(credential, keys).valid
    with core.store.transaction() as tx:
        stored = tx.achievement(credential["id"].removeprefix("urn:uuid:"))
    assert stored is not None
    assert stored.achievement.kind == "certificate"
    assert stored.credential == credential


def test_cert_verify_accepts_the_file_and_refuses_a_changed_byte_and_a_revoked_one(
    bot: RecordingBot, core: Core, catalog: Catalog, tmp_path: Path, db_url: str,
) -> None:
    files = complete_with_exam(bot, catalog)
    credential_file = tmp_path / "zertifikat.credential.json"
    credential_file.write_bytes(files[3].data)
    ok = cli(tmp_path, db_url, "verify", str(credential_file))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid: certificate for module informationssicherheit" in ok.stdout

    tampered = tmp_path / "tampered.credential.json"
    data = files[3].data
    position = data.index(b"informationssicherheit")  # one byte of the achievement's id
    tampered.write_bytes(data[:position] + b"I" + data[position + 1:])
    bad = cli(tmp_path, db_url, "verify", str(tampered))
    assert bad.returncode == 1
    assert "INVALID" in bad.stdout

    achievement_id = json.loads(data)["id"].removeprefix("urn:uuid:")
    revoked = cli(tmp_path, db_url, "revoke", achievement_id)
    assert revoked.returncode == 0, revoked.stderr
    again = cli(tmp_path, db_url, "verify", str(credential_file))
    assert again.returncode == 1
    assert "REVOKED" in again.stdout
    assert cli(tmp_path, db_url, "revoke", achievement_id).returncode == 1  # revoked already


def test_a_rotated_key_signs_new_credentials_and_old_ones_stay_valid(
    bot: RecordingBot, catalog: Catalog, tmp_path: Path, db_url: str,
) -> None:
    files = complete_with_exam(bot, catalog)
    old = tmp_path / "old.credential.json"
    old.write_bytes(files[3].data)
    rotated = cli(tmp_path, db_url, "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    keys = IssuerKeys(tmp_path / "issuer")
    assert json.loads(files[3].data)["proof"]["verificationMethod"] != keys.active().verification_method
    assert cli(tmp_path, db_url, "verify", str(old)).returncode == 0


def test_erasure_keeps_issued_certificates_only_as_the_tenants_retention_rule_requires(
    tmp_path: Path, db_url: str, clock: FixedClock, catalog: Catalog, texts: GettextTexts,
) -> None:
    tenants = [TenantSettings(id="kreis", name="Landkreis Beispiel", state="HE", servers=["kreis.example"], retention_years=3)]
    core = build_core(Settings(data_dir=tmp_path, tenants=tenants), clock=clock, database_url=db_url, catalog=catalog, texts=texts)
    bot = RecordingBot(MemoryChannel(core.turns, core.store, clock, tenant_id="kreis"))
    files = complete_with_exam(bot, catalog, name="Erika Mustermann")
    achievement_id = json.loads(files[3].data)["id"].removeprefix("urn:uuid:")
    bot.say("löschen")
    reply = bot.say("ja")
    assert "Alle Ihre Daten sind gelöscht" in reply.text
    assert "Aufbewahrt bleiben nur Ihre 2 ausgestellten Nachweise" in reply.text
    until = clock.now().date().replace(year=clock.now().year + 3)  # issued on the day of the tutorial
    assert f"bis zum {until:%d.%m.%Y}" in reply.text
    keys = IssuerKeys(tmp_path / "issuer")
    # The certificate can still be verified; nothing else about the learner is left.
    assert check_id(achievement_id, keys, core.store).status == "valid"
    with core.store.engine.connect() as connection:
        kept = connection.execute(text("SELECT learner_id, retained_until FROM achievement")).all()
        assert [(row[0], str(row[1])) for row in kept] == [(None, until.isoformat()), (None, until.isoformat())]
        for table in ("learner", "identity", "learner_state", "outbox", "due_work", "review_card", "hr_notice"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table  # noqa: S608
    # When the retention has run out, the scheduler's next tick deletes them too.
    clock.advance(timedelta(days=3 * 366))
    SchedulerRunner(core.store, core.pushes).tick()
    assert check_id(achievement_id, keys, core.store).status == "unknown"
    core.store.engine.dispose()


def test_without_a_retention_rule_erasure_deletes_the_certificates_too(bot: RecordingBot, core: Core, catalog: Catalog) -> None:
    complete_with_exam(bot, catalog)
    bot.say("löschen")
    reply = bot.say("ja")
    assert "Aufbewahrt" not in reply.text
    with core.store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM achievement")).scalar_one() == 0
