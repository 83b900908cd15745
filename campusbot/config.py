"""Configuration: one TOML file, every key also settable by environment variable.

A key ``[store] url`` is ``CAMPUSBOT_STORE__URL`` in the environment; top-level
keys are ``CAMPUSBOT_<KEY>``. The environment wins over the file.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError, field_validator, model_validator

from campusbot.errors import ConfigError

ENV_PREFIX = "CAMPUSBOT_"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "campusbot"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    # Empty means the embedded SQLite file ``campusbot.sqlite3`` in the data directory.
    url: str = ""


class BotSettings(_Section):
    default_language: Literal["de", "en"] = "de"


ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")]


class ScheduleSettings(_Section):
    """When the bot may come to learners on its own, and how the scheduler works."""

    timezone: str = "Europe/Berlin"
    quiet_start: ClockTime = "18:00"  # no pushes from here ...
    quiet_end: ClockTime = "07:30"  # ... to here
    enabled: bool = True  # several processes on PostgreSQL may all run it: claims never overlap
    tick_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
        return value


class CertificateSettings(_Section):
    """Who issues confirmations and certificates, and where they can be checked."""

    cooperative: str = "campusbot – Lernplattform der Kommunen"
    # The public address of the verification server: QR codes and credentials link to
    # <public_url>/verify/<id>. It is also the issuer id of the signed credentials.
    public_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] = "http://localhost:8080"


class WebSettings(_Section):
    """The web server of 'campusbot run': /verify/<id>, /healthz and /metrics."""

    enabled: bool = True
    host: str = "127.0.0.1"  # behind a reverse proxy that serves certificates.public_url
    port: Annotated[int, Field(ge=1, le=65535)] = 8080


class MatrixSettings(_Section):
    homeserver: str
    user_id: Annotated[str, StringConstraints(pattern=r"^@[^:]+:.+$")]
    password: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    device_id: str = ""
    device_name: str = "campusbot"
    # Pickle key of the E2EE store and key of the stored cross-signing keys; never change it.
    store_secret: SecretStr
    group_rooms: list[str] = []

    @model_validator(mode="after")
    def _can_log_in(self) -> MatrixSettings:
        if not self.password.get_secret_value() and not self.access_token.get_secret_value():
            raise ValueError("set matrix.password or matrix.access_token")
        if self.access_token.get_secret_value() and not self.device_id and not self.password.get_secret_value():
            raise ValueError("matrix.access_token needs matrix.device_id")
        if len(self.store_secret.get_secret_value()) < 16:
            raise ValueError("matrix.store_secret must be at least 16 characters")
        return self


class TelegramSettings(_Section):
    """The Telegram bot: its token from @BotFather, and its username for the links learners get."""

    token: SecretStr
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$")]
    api_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+[^/\s]$")] = "https://api.telegram.org"
    poll_timeout: Annotated[int, Field(ge=0, le=60)] = 30  # seconds a getUpdates long poll waits

    @field_validator("token")
    @classmethod
    def _looks_like_a_token(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", value.get_secret_value()):
            raise ValueError("telegram.token must be a bot token as @BotFather gives it (digits, a colon, then 20 or more characters)")
        return value


BUNDESLAENDER = ("BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH")


class HrSettings(_Section):
    """Where the municipality's HR receives notices of completions and overdue trainings."""

    room: str = ""  # a Matrix room id; it must also be in matrix.group_rooms
    members: list[str] = []  # Matrix ids of the HR staff who may ask for reports in that room
    email: list[str] = []  # addresses, through [smtp]
    webhook_url: str = ""  # JSON POST, signed: X-Campusbot-Signature: sha256=<HMAC-SHA256 of the body>
    webhook_secret: SecretStr = SecretStr("")
    lrs_endpoint: str = ""  # an xAPI LRS, e.g. https://lrs.example.org/xapi/
    lrs_username: str = ""
    lrs_password: SecretStr = SecretStr("")
    lrs_identify_by_name: bool = False  # default: learners appear in the LRS under a pseudonym

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> HrSettings:
        if self.webhook_url and not self.webhook_secret.get_secret_value():
            raise ValueError("webhook_url needs a webhook_secret to sign its requests")
        return self


class SmtpSettings(_Section):
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = "campusbot@localhost"


class TenantSettings(_Section):
    """A municipality: its employees are the Matrix users on its servers."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    name: str
    state: Literal["BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH"]
    servers: Annotated[list[str], Field(min_length=1)]
    # Module ids of the mandatory trainings for this municipality; unset = every mandatory module.
    mandatory: list[str] | None = None
    hr: HrSettings = HrSettings()
    # Years an issued confirmation or certificate is kept after the learner erased their data
    # (for its verification and HR's files); 0 keeps nothing.
    retention_years: Annotated[int, Field(ge=0, le=30)] = 0
    # Departments (Ämter, Fachbereiche) learners choose from after their role; HR's monthly
    # summary then counts by department instead of role. Empty: not asked.
    departments: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=80)]], Field(max_length=40)] = []


class Settings(_Section):
    data_dir: Path = default_data_dir()
    content_dir: Path | None = None
    store: StoreSettings = StoreSettings()
    bot: BotSettings = BotSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    certificates: CertificateSettings = CertificateSettings()
    web: WebSettings = WebSettings()
    smtp: SmtpSettings = SmtpSettings()
    matrix: MatrixSettings | None = None
    telegram: TelegramSettings | None = None
    tenants: list[TenantSettings] = []

    def tenant_of(self, user_id: str) -> TenantSettings | None:
        """The tenant whose servers the Matrix user is on."""
        server = user_id.partition(":")[2]
        return next((t for t in self.tenants if server in t.servers), None)

    def database_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.data_dir / 'campusbot.sqlite3').resolve()}"


_JSON_KEYS = frozenset({"tenants", "group_rooms", "servers", "mandatory", "email", "members", "departments"})


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        target = overrides
        for part in path[:-1]:
            target = target.setdefault(part, {})
        # Lists and tables ([[tenants]], group_rooms) are given as JSON in the environment; secrets never are.
        target[path[-1]] = json.loads(value) if path[-1] in _JSON_KEYS else value
    return overrides


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (if any) and the environment; errors name the key."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    data = _merge(data, _env_overrides(dict(os.environ if environ is None else environ)))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            env = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{path or 'environment'}: key {key} (or {env}): {error['msg']}")
        raise ConfigError("\n".join(problems)) from None
