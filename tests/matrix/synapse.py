"""A real Synapse homeserver (PyPI ``matrix-synapse``) for end-to-end tests.

It listens for clients on 127.0.0.1 only, keeps its SQLite database, media and
logs in ``base_dir``, has every rate limit raised far out of reach and lets
tests register accounts through the shared-secret admin API.
"""

from __future__ import annotations

import hashlib
import hmac
import json as jsonlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import yaml

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
REQUEST_TIMEOUT = 30.0
DEFAULT_PASSWORD = "campusbot-test-password"  # noqa: S105 - a throwaway homeserver's test accounts

# Far out of reach for any test, but still valid numbers for Synapse's parser.
_NO_LIMIT = {"per_second": 100_000, "burst_count": 1_000_000}

_RATE_LIMITS: dict[str, Any] = {
    "rc_message": _NO_LIMIT,
    "rc_registration": _NO_LIMIT,
    "rc_registration_token_validity": _NO_LIMIT,
    "rc_login": {"address": _NO_LIMIT, "account": _NO_LIMIT, "failed_attempts": _NO_LIMIT},
    "rc_admin_redaction": _NO_LIMIT,
    "rc_joins": {"local": _NO_LIMIT, "remote": _NO_LIMIT},
    "rc_joins_per_room": _NO_LIMIT,
    "rc_key_requests": _NO_LIMIT,
    "rc_3pid_validation": _NO_LIMIT,
    "rc_invites": {"per_room": _NO_LIMIT, "per_user": _NO_LIMIT, "per_issuer": _NO_LIMIT},
    "rc_third_party_invite": _NO_LIMIT,
    "rc_media_create": _NO_LIMIT,
    "rc_presence": {"per_user": _NO_LIMIT},
    "rc_delayed_event_mgmt": _NO_LIMIT,
    "rc_room_creation": _NO_LIMIT,
    "rc_reports": _NO_LIMIT,
    "rc_user_directory": _NO_LIMIT,
    "rc_profile": _NO_LIMIT,
}


class SynapseError(RuntimeError):
    """Synapse did not start, stop or answer as expected."""


class HttpError(SynapseError):
    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} -> HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Account:
    user_id: str
    password: str
    access_token: str
    device_id: str

    @property
    def localpart(self) -> str:
        return self.user_id[1:].split(":", 1)[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_json(method: str, url: str, *, token: str | None = None, json: Any = None, timeout: float = REQUEST_TIMEOUT) -> Any:
    """One JSON request with the standard library; raises `HttpError` on a status >= 400."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")
    data = None if json is None else jsonlib.dumps(json).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked above
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            body = response.read()
    except urllib.error.HTTPError as error:
        with error:
            raise HttpError(method, url, error.code, error.read().decode(errors="replace")) from None
    return jsonlib.loads(body) if body else {}


class Synapse:
    """One Synapse process; `start()` is idempotent about its configuration and data."""

    def __init__(self, base_dir: Path, server_name: str = "localhost") -> None:
        self.base_dir = base_dir
        self._server_name = server_name
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._shared_secret = secrets.token_urlsafe(32)
        self.start_seconds: float | None = None  # how long the last start took

    # -- properties --------------------------------------------------------

    @property
    def server_name(self) -> str:
        return self._server_name

    @property
    def port(self) -> int:
        if self._port is None:
            raise SynapseError("Synapse has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.base_dir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "homeserver.log"

    @property
    def output_path(self) -> Path:
        return self.base_dir / "homeserver.out"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        if self.running:
            raise SynapseError("Synapse is already running")
        begin = time.monotonic()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._port is None:
            self._port = free_port()
        self._write_config()
        self._output = self.output_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.base_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_ready(begin + START_TIMEOUT)
        except BaseException:
            self.kill()
            raise
        self.start_seconds = time.monotonic() - begin

    def stop(self) -> None:
        """SIGTERM, wait (bounded), then SIGKILL."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        self._reap()

    def kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        self._reap()

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _reap(self) -> None:
        self._process = None
        if self._output is not None:
            self._output.close()
            self._output = None

    def _wait_until_ready(self, deadline: float) -> None:
        versions = f"{self.url}/_matrix/client/versions"
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise SynapseError(f"Synapse exited with code {code} while starting\n{self.log_tail()}")
            try:
                answer = http_json("GET", versions, timeout=2.0)
            except (OSError, HttpError) as error:
                last_error = str(error)
            else:
                if isinstance(answer, dict) and "versions" in answer:
                    return
                last_error = f"unexpected answer {answer!r}"
            time.sleep(0.1)
        raise SynapseError(f"Synapse did not answer {versions} within {START_TIMEOUT:.0f} s ({last_error})\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.output_path, self.log_path):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(parts) or "(no log written)"

    # -- configuration -----------------------------------------------------

    def _generate_config(self) -> None:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "synapse.app.homeserver",
                "--generate-config",
                "--server-name",
                self._server_name,
                "--report-stats=no",
                "-c",
                str(self.config_path),
            ],
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise SynapseError(f"synapse --generate-config failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def _write_config(self) -> None:
        if not self.config_path.exists():
            self._generate_config()
        config: dict[str, Any] = yaml.safe_load(self.config_path.read_text())
        # Reuse the secret of an existing configuration so a restart keeps working.
        self._shared_secret = str(config.get("registration_shared_secret") or self._shared_secret)
        log_config = self.base_dir / "log.config.yaml"
        log_config.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "formatters": {"precise": {"format": "%(asctime)s %(name)s %(lineno)d %(levelname)s %(message)s"}},
                    "handlers": {
                        "file": {
                            "class": "logging.FileHandler",
                            "formatter": "precise",
                            "filename": str(self.log_path),
                            "level": "WARNING",
                            "encoding": "utf8",
                        }
                    },
                    "root": {"level": "WARNING", "handlers": ["file"]},
                    "disable_existing_loggers": False,
                }
            )
        )
        config.update(
            {
                "server_name": self._server_name,
                "public_baseurl": f"http://127.0.0.1:{self.port}/",
                "pid_file": str(self.base_dir / "homeserver.pid"),
                "listeners": [
                    {
                        "port": self.port,
                        "bind_addresses": ["127.0.0.1"],
                        "type": "http",
                        "tls": False,
                        "x_forwarded": False,
                        "resources": [{"names": ["client"], "compress": False}],
                    }
                ],
                "database": {"name": "sqlite3", "args": {"database": str(self.base_dir / "homeserver.db")}},
                "media_store_path": str(self.base_dir / "media_store"),
                "log_config": str(log_config),
                "registration_shared_secret": self._shared_secret,
                "enable_registration": False,
                "bcrypt_rounds": 4,
                "trusted_key_servers": [],
                "suppress_key_server_warning": True,
                "report_stats": False,
                "enable_metrics": False,
                "presence": {"enabled": False},
                "url_preview_enabled": False,
                "allow_public_rooms_over_federation": False,
                "federation_domain_whitelist": [],
                **_RATE_LIMITS,
            }
        )
        # A JSON round trip drops shared references, so the YAML has no anchors/aliases.
        self.config_path.write_text(yaml.safe_dump(jsonlib.loads(jsonlib.dumps(config)), sort_keys=False))

    # -- client API helpers ---------------------------------------------------

    def request(self, method: str, path: str, token: str | None = None, json: Any = None) -> Any:
        """A JSON request against this homeserver (``path`` starts with ``/_matrix`` or ``/_synapse``)."""
        return http_json(method, self.url + path, token=token, json=json)

    def admin_request(self, method: str, path: str, token: str, json: Any = None) -> Any:
        """A request with a (server admin's) access token, e.g. to ``/_synapse/admin/v1/...``."""
        return self.request(method, path, token=token, json=json)

    def register(self, localpart: str, password: str = DEFAULT_PASSWORD, admin: bool = False) -> Account:
        """Create an account through the shared-secret registration API."""
        endpoint = "/_synapse/admin/v1/register"
        nonce = str(self.request("GET", endpoint)["nonce"])
        mac = hmac.new(self._shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"]))
        answer = self.request(
            "POST",
            endpoint,
            json={"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac.hexdigest()},
        )
        return Account(
            user_id=str(answer["user_id"]),
            password=password,
            access_token=str(answer["access_token"]),
            device_id=str(answer["device_id"]),
        )

    def lift_ratelimit(self, admin: Account, user_id: str) -> None:
        """Switch off the message rate limit of one user (an admin's token is needed)."""
        path = f"/_synapse/admin/v1/users/{urllib.parse.quote(user_id)}/override_ratelimit"
        self.admin_request("POST", path, admin.access_token, json={"messages_per_second": 0, "burst_count": 0})

    def login(self, user_id: str, password: str, device_id: str | None = None) -> Account:
        """Password login: a new access token (and a new device unless ``device_id`` is given)."""
        body: dict[str, Any] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
        }
        if device_id is not None:
            body["device_id"] = device_id
        answer = self.request("POST", "/_matrix/client/v3/login", json=body)
        return Account(str(answer["user_id"]), password, str(answer["access_token"]), str(answer["device_id"]))
