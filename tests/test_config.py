from __future__ import annotations

import re
from pathlib import Path

import pytest

from campusbot.app import build_core
from campusbot.config import load_settings
from campusbot.errors import ConfigError


def test_file_and_environment_with_environment_winning(tmp_path: Path) -> None:
    path = tmp_path / "campusbot.toml"
    path.write_text('data_dir = "/srv/campusbot"\n[store]\nurl = "sqlite:////srv/a.db"\n[bot]\ndefault_language = "de"\n')
    settings = load_settings(path, environ={"CAMPUSBOT_BOT__DEFAULT_LANGUAGE": "en"})
    assert settings.data_dir == Path("/srv/campusbot")
    assert settings.database_url() == "sqlite:////srv/a.db"
    assert settings.bot.default_language == "en"


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"CAMPUSBOT_DATA_DIR": str(tmp_path)})
    assert settings.database_url() == f"sqlite:///{tmp_path}/campusbot.sqlite3"


def test_a_wrong_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "campusbot.toml"
    path.write_text('[bot]\ndefault_langauge = "de"\n')
    with pytest.raises(ConfigError, match=r"key bot\.default_langauge \(or CAMPUSBOT_BOT__DEFAULT_LANGAUGE\)"):
        load_settings(path, environ={})


def test_a_wrong_value_is_named() -> None:
    with pytest.raises(ConfigError, match=r"key bot\.default_language .*'de' or 'en'"):
        load_settings(None, environ={"CAMPUSBOT_BOT__DEFAULT_LANGUAGE": "fr"})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[store\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: invalid TOML"):
        load_settings(path, environ={})


def test_the_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "deploy" / "campusbot.example.toml"
    # Secrets come from the environment, as the example file says.
    settings = load_settings(example, environ={
        "CAMPUSBOT_MATRIX__PASSWORD": "from-the-environment", "CAMPUSBOT_TELEGRAM__TOKEN": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
    })
    assert settings.bot.default_language == "de"
    assert settings.matrix is not None
    assert settings.telegram is not None
    assert settings.telegram.username == "musterstadt_campusbot"
    assert settings.tenant_of("@anna:musterstadt.de") is not None
    assert settings.tenant_of("@mallory:evil.example") is None


def test_lists_come_from_the_environment_as_json_but_secrets_stay_strings() -> None:
    settings = load_settings(None, environ={
        "CAMPUSBOT_MATRIX__HOMESERVER": "http://127.0.0.1:8008", "CAMPUSBOT_MATRIX__USER_ID": "@bot:localhost",
        "CAMPUSBOT_MATRIX__PASSWORD": "[not json", "CAMPUSBOT_MATRIX__STORE_SECRET": "{0123456789abcdef}",
        "CAMPUSBOT_MATRIX__GROUP_ROOMS": '["!hr:localhost"]',
        "CAMPUSBOT_TENANTS": '[{"id": "kreis", "name": "Kreis", "state": "RP", "servers": ["localhost"]}]',
    })
    assert settings.matrix is not None
    assert settings.matrix.password.get_secret_value() == "[not json"
    assert settings.matrix.store_secret.get_secret_value() == "{0123456789abcdef}"
    assert settings.matrix.group_rooms == ["!hr:localhost"]
    assert settings.tenant_of("@anna:localhost") is not None


def test_secrets_are_not_shown_in_the_settings() -> None:
    settings = load_settings(None, environ={
        "CAMPUSBOT_MATRIX__HOMESERVER": "http://x", "CAMPUSBOT_MATRIX__USER_ID": "@bot:x",
        "CAMPUSBOT_MATRIX__PASSWORD": "hunter2-hunter2", "CAMPUSBOT_MATRIX__STORE_SECRET": "s" * 20,
    })
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_config_may_stand_on_either_side_of_the_subcommand(tmp_path: Path) -> None:
    import subprocess
    import sys

    for order in ("before", "after"):
        data_dir = tmp_path / order
        path = tmp_path / f"{order}.toml"
        path.write_text(f'data_dir = "{data_dir}"\n')
        args = ["--config", str(path), "db", "upgrade"] if order == "before" else ["db", "upgrade", "--config", str(path)]
        result = subprocess.run([sys.executable, "-m", "campusbot", *args], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert (data_dir / "campusbot.sqlite3").exists(), f"--config {order} the subcommand was ignored"


def test_schedule_settings_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "campusbot.toml"
    path.write_text('[schedule]\nquiet_start = "19:00"\nbatch_size = 200\n')
    settings = load_settings(path, environ={"CAMPUSBOT_SCHEDULE__QUIET_END": "06:45"})
    assert (settings.schedule.quiet_start, settings.schedule.quiet_end, settings.schedule.batch_size) == ("19:00", "06:45", 200)
    assert load_settings(None, environ={}).schedule.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[schedule]\ntimezone = "Europe/Bonn"\n', "schedule.timezone"),
        ('[schedule]\nquiet_end = "7.30"\n', "schedule.quiet_end"),
        ("[schedule]\ntick_seconds = 0\n", "schedule.tick_seconds"),
    ],
)
def test_bad_schedule_settings_name_the_key(tmp_path: Path, body: str, key: str) -> None:
    path = tmp_path / "campusbot.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=rf"campusbot\.toml.*{re.escape(key)}"):
        load_settings(path, environ={})


def test_a_tenant_with_an_unknown_mandatory_training_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "campusbot.toml"
    path.write_text('[[tenants]]\nid = "kreis"\nname = "Kreis"\nstate = "HE"\nservers = ["k.example"]\nmandatory = ["datenschutz"]\n')
    settings = load_settings(path, environ={})
    with pytest.raises(ConfigError, match=r"tenants\[0\]\.mandatory: 'datenschutz' is not a mandatory training"):
        build_core(settings, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")


def test_a_telegram_token_that_is_none_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = tmp_path / "campusbot.toml"
    path.write_text('[telegram]\nusername = "x_bot"\n')
    with pytest.raises(ConfigError, match=r"key telegram\.token \(or CAMPUSBOT_TELEGRAM__TOKEN\)"):
        load_settings(path, environ={})
    with pytest.raises(ConfigError, match="as @BotFather gives it") as error:
        load_settings(path, environ={"CAMPUSBOT_TELEGRAM__TOKEN": "not-a-token-but-a-secret"})
    assert "not-a-token-but-a-secret" not in str(error.value)
    with pytest.raises(ConfigError, match=r"key telegram\.username"):
        load_settings(path, environ={
            "CAMPUSBOT_TELEGRAM__TOKEN": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11", "CAMPUSBOT_TELEGRAM__USERNAME": "@x",
        })
