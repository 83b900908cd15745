from __future__ import annotations

from pathlib import Path

import pytest

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
    settings = load_settings(example, environ={})
    assert settings.bot.default_language == "de"
