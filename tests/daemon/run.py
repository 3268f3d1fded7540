"""Running `python -m daemon` as a real process with exactly the settings a test gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from common.process import ROOT

SETTING_NAMES = (
    "CLIENT_ID", "AUTHORITY", "TENANT_SUBDOMAIN", "CLIENT_SECRET", "API_ENDPOINT", "SCOPES",
    "CERT_PRIVATE_KEY_FILE", "CERT_THUMBPRINT", "CERT_FILE", "CA_FILE", "TOKEN_CACHE_FILE",
)


def run_daemon(
    args: list[str], settings: dict[str, str], env_file: Path
) -> subprocess.CompletedProcess[str]:
    """The daemon with `settings` as its only settings (none inherited from the test's
    environment) and `env_file` instead of the developer's daemon/.env."""
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args, "--env-file", str(env_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def succeed(args: list[str], settings: dict[str, str], env_file: Path) -> Any:
    """The JSON a successful run prints (the run must exit 0 and say nothing on stderr)."""
    result = run_daemon(args, settings, env_file)
    assert (result.returncode, result.stderr) == (0, ""), result
    return json.loads(result.stdout)


def fail(args: list[str], settings: dict[str, str], env_file: Path) -> str:
    """The one line a failing run prints on stderr (it must exit 1 and print nothing else)."""
    result = run_daemon(args, settings, env_file)
    assert (result.returncode, result.stdout) == (1, ""), result
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.rstrip("\n")
