"""The operator's view: 'campusbot enroll-code' and 'campusbot run' with only [telegram] configured."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.telegram.bot_api import FakeBotApi
from tests.telegram.conftest import TOKEN, USERNAME, plain


def write_config(path: Path, api: FakeBotApi, data_dir: Path) -> Path:
    path.write_text(
        f"""data_dir = "{data_dir}"

[web]
enabled = false

[telegram]
token = "{TOKEN}"
username = "{USERNAME}"
api_url = "{api.url}"
poll_timeout = 1

[[tenants]]
id = "musterstadt"
name = "Stadt Musterstadt"
state = "HE"
servers = ["musterstadt.example"]
""",
        encoding="utf-8",
    )
    return path


def campusbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campusbot", *args], capture_output=True, text=True, timeout=120, check=False, env=os.environ.copy(),
    )


async def test_codes_from_the_command_line_enrol_learners_of_a_running_bot(api: FakeBotApi, tmp_path: Path) -> None:
    config = write_config(tmp_path / "campusbot.toml", api, tmp_path / "data")
    unknown = campusbot("enroll-code", "--config", str(config), "--tenant", "nirgendwo")
    assert unknown.returncode == 2
    assert "key tenants" in unknown.stderr
    assert "musterstadt" in unknown.stderr
    issued = campusbot("enroll-code", "--config", str(config), "--tenant", "musterstadt", "--count", "2")
    assert issued.returncode == 0, issued.stderr
    codes = issued.stdout.split()
    assert len(codes) == 2
    assert "Stadt Musterstadt" in issued.stderr

    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "campusbot", "run", "--config", str(config), stdout=log, stderr=log,
        )
        try:
            await api.wait_for(lambda: any(method == "getUpdates" for method, _ in api.calls), timeout=60)
            api.send_text(11, codes[0])
            api.send_text(12, "Hallo")
            await api.wait_for(lambda: len(api.sent(11)) >= 2 and len(api.sent(12)) >= 1, timeout=30)
            assert "campusbot" in plain(api.sent(11)[0].text or "")
            assert "Einladungscode" in plain(api.sent(12)[0].text or "")
            assert api.commands["de"]  # the menu was set at start
        finally:
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(process.wait(), timeout=30)
    output = log_path.read_text()
    assert returncode == 0, output
    assert "Traceback" not in output
    assert TOKEN not in output  # request URLs carry the token; they are never logged
    assert TOKEN.split(":")[1] not in output


async def test_a_token_telegram_refuses_stops_the_start_with_a_clear_error(api: FakeBotApi, tmp_path: Path) -> None:
    config = write_config(tmp_path / "campusbot.toml", api, tmp_path / "data")
    config.write_text(config.read_text().replace(TOKEN, "4242:AAH-revoked-token-0123456789abcdef"))
    # The fake API must keep serving while the bot starts: no blocking subprocess.run here.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "campusbot", "run", "--config", str(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    _, raw = await asyncio.wait_for(process.communicate(), timeout=60)
    stderr = raw.decode()
    assert process.returncode == 2, stderr
    assert "Telegram refused the bot token: check telegram.token" in stderr
    assert "Traceback" not in stderr
    assert "revoked-token" not in stderr
