"""Start the web app at http://localhost:3000 — with no tenant configured, the whole local system.

    python run.py [--env-file .env] [--host 127.0.0.1] [--port 3000]

With a tenant in the settings (`CLIENT_ID`, `AUTHORITY` or `TENANT_SUBDOMAIN` in the
environment or `.env`), only the web app starts, against that tenant. Without one, local mode
starts the local tenant (`python -m devtenant`, data in instance/devtenant) and the ToDoList API
(`python -m api`, https://localhost:44351), wires the three together through
`python -m devtenant env api|web` and the local CA file, and serves the web app. Ctrl-C stops
all of them.

The server is Werkzeug's threaded WSGI server, which is fit for local use; a production
deployment runs `app:create_app()` under a production WSGI server instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import requests
from werkzeug.serving import make_server

from common.http import HttpClient
from common.oidc import discovery_url
from common.settings import SettingsError, load_env
from config import DEFAULT_ENV_FILE, Config, tenant_configured

ROOT = Path(__file__).resolve().parent
TENANT_DATA_DIR = ROOT / "instance" / "devtenant"
LOG_DIR = ROOT / "instance" / "logs"
START_TIMEOUT = 60.0
# Settings of the web server itself that a person may set in local mode too.
LOCAL_OVERRIDES = ("PORT", "SESSION_TYPE", "REDIS_URL", "SESSION_SECRET", "INSTANCE_DIR")


class StartError(Exception):
    """Something the local system needs did not come up; the message says what and where."""


class Child:
    """A component started as `python -m <module>`, its output in instance/logs/<name>.log."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.log_path = LOG_DIR / f"{name}.log"
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, env={**os.environ, **env},
                stdout=log, stderr=subprocess.STDOUT,
            )

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} stopped while starting; see {self.log_path}")
            if ready():
                return
            time.sleep(0.1)
        raise StartError(f"{self.name} was not {what} within {START_TIMEOUT:.0f}s; "
                         f"see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def devtenant_env(component: str) -> dict[str, str] | None:
    """`python -m devtenant env <component>` as a dict, or None while it cannot answer yet."""
    result = subprocess.run(
        [sys.executable, "-m", "devtenant", "env", component, "--data-dir", str(TENANT_DATA_DIR)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        return None
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def answers(url: str, ca_file: str | None, ok: Callable[[int], bool]) -> Callable[[], bool]:
    http = HttpClient(ca_file=ca_file, timeout=(1.0, 3.0))

    def probe() -> bool:
        try:
            return ok(http.get(url).status_code)
        except requests.RequestException:
            return False

    return probe


def start_local_system(source: Mapping[str, str], children: list[Child]) -> dict[str, str]:
    """Start the local tenant and the API; return the web app's settings for them."""
    tenant = Child(
        "devtenant", ["-m", "devtenant", "--data-dir", str(TENANT_DATA_DIR)], {}
    )
    children.append(tenant)

    def tenant_ready() -> bool:
        web = devtenant_env("web")
        if web is None or "AUTHORITY" not in web:
            return False
        url = discovery_url(web["AUTHORITY"].rstrip("/"))
        return answers(url, web.get("CA_FILE"), lambda status: status == 200)()

    tenant.wait_until(tenant_ready, "ready")
    web = devtenant_env("web")
    api = devtenant_env("api")
    if web is None or api is None:
        raise StartError("`python -m devtenant env web|api` did not answer; see its log")
    api_child = Child("api", ["-m", "api"], api)
    children.append(api_child)
    api_url = urlsplit(web.get("TODOLIST_API_URL") or "https://localhost:44351/api/todolist")
    health = f"{api_url.scheme}://{api_url.netloc}/healthz"
    api_child.wait_until(answers(health, web.get("CA_FILE"), lambda s: s == 200), "answering")
    settings = dict(web)
    overrides = {k: source[k] for k in LOCAL_OVERRIDES if source.get(k)}
    if "PORT" in overrides:
        # The tenant accepts any loopback port; the addresses follow the chosen port.
        settings.pop("REDIRECT_URI", None)
        settings.pop("POST_LOGOUT_REDIRECT_URI", None)
    settings.update(overrides)
    return settings


def serve(config: Config, host: str) -> None:
    from app import create_app

    try:
        server = make_server(host, config.port, create_app(config), threaded=True)
    except OSError as exc:
        raise StartError(f"cannot listen on {host}:{config.port} ({exc.strerror})") from exc
    print(f"The web app is running at http://localhost:{config.port}  (Ctrl-C stops it)",
          flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops everything as Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", default=str(DEFAULT_ENV_FILE),
                        help="dotenv file with the web app's settings (default ./.env)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, help="port to listen on (default PORT or 3000)")
    args = parser.parse_args(argv)
    source = load_env(args.env_file)
    if args.port:
        source["PORT"] = str(args.port)
    signal.signal(signal.SIGTERM, _interrupt)
    children: list[Child] = []
    try:
        if tenant_configured(source):
            settings = source
        else:
            print("No tenant configured: starting the local tenant and the ToDoList API ...",
                  flush=True)
            settings = start_local_system(source, children)
        serve(Config.load(settings), args.host)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except StartError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        for child in reversed(children):
            child.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
