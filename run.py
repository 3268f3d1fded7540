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
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import requests

from app import create_app
from app.serving import make_server
from common.http import HttpClient
from common.oidc import discovery_url
from common.settings import SettingsError, load_env
from config import DEFAULT_ENV_FILE, Config, tenant_configured

ROOT = Path(__file__).resolve().parent
DEFAULT_INSTANCE = ROOT / "instance"
START_TIMEOUT = 60.0
# Settings of the web server itself that a person may set in local mode too.
LOCAL_OVERRIDES = ("PORT", "SESSION_TYPE", "REDIS_URL", "SESSION_SECRET", "INSTANCE_DIR")


class StartError(Exception):
    """Something the local system needs did not come up; the message says what and where."""


class Child:
    """A component started as `python -m <module>`, its output in `<log_dir>/<name>.log`."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
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


def answers(url: str, ca_file: str | None) -> Callable[[], bool]:
    """A probe: true once `url` answers 200 over TLS trusting `ca_file`."""
    http = HttpClient(ca_file=ca_file, timeout=(1.0, 3.0))

    def probe() -> bool:
        try:
            return http.get(url).status_code == 200
        except (requests.RequestException, OSError):  # OSError: the CA file is not there yet
            return False

    return probe


class LocalSystem:
    """The local tenant and the ToDoList API, started for the web app (local mode)."""

    def __init__(
        self,
        instance: Path,
        tenant_port: int | None = None,
        tenant_pages_port: int | None = None,
        api_port: int | None = None,
    ) -> None:
        self.instance = instance
        self.tenant_dir = instance / "devtenant"
        self.log_dir = instance / "logs"
        self.tenant_ports = (tenant_port, tenant_pages_port)
        self.api_port = api_port
        self.children: list[Child] = []

    def devtenant_env(self, component: str) -> dict[str, str] | None:
        """`python -m devtenant env <component>` as a dict, or None while it cannot answer."""
        result = subprocess.run(
            [sys.executable, "-m", "devtenant", "env", component,
             "--data-dir", str(self.tenant_dir)],
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

    def start(self, source: Mapping[str, str]) -> dict[str, str]:
        """Start the tenant, then the API; return the web app's settings for them."""
        args = ["-m", "devtenant", "--data-dir", str(self.tenant_dir)]
        for option, port in zip(("--port", "--pages-port"), self.tenant_ports, strict=True):
            if port:
                args += [option, str(port)]
        tenant = Child("devtenant", args, {}, self.log_dir)
        self.children.append(tenant)

        def tenant_ready() -> bool:
            # `env` is asked only once the server answers: before that it could race the
            # server creating the data directory. tenant.json names the port and tenant id.
            try:
                data = json.loads((self.tenant_dir / "tenant.json").read_text())
                url = discovery_url(f"https://localhost:{data['port']}/{data['tenant_id']}")
            except (OSError, ValueError, KeyError, TypeError):
                return False
            return answers(url, str(self.tenant_dir / "ca.pem"))()

        tenant.wait_until(tenant_ready, "ready")
        web, api = self.devtenant_env("web"), self.devtenant_env("api")
        if web is None or api is None:
            raise StartError(f"`python -m devtenant env` failed; see {tenant.log_path}")
        api_url = urlsplit(web.get("TODOLIST_API_URL") or "https://localhost:44351/api/todolist")
        api_port = self.api_port or api_url.port or 44351
        api_settings = {
            **api,
            "DATABASE_URL": f"sqlite:///{self.instance / 'api' / 'todolist.sqlite'}",
        }
        api_child = Child(
            "api",
            # Not api/.env: in local mode every API setting comes from the local tenant.
            ["-m", "api", "--env-file", str(self.instance / "api" / "local-mode.env"),
             "--host", "127.0.0.1", "--port", str(api_port)],
            api_settings,
            self.log_dir,
        )
        self.children.append(api_child)
        base = f"https://localhost:{api_port}"
        api_child.wait_until(answers(f"{base}/healthz", web.get("CA_FILE")), "answering")
        settings = {
            **web,
            "TODOLIST_API_URL": f"{base}/api/todolist",
            "INSTANCE_DIR": str(self.instance / "web"),
        }
        overrides = {k: source[k] for k in LOCAL_OVERRIDES if source.get(k)}
        if "PORT" in overrides:
            # The tenant accepts any loopback port; the addresses follow the chosen port.
            settings.pop("REDIRECT_URI", None)
            settings.pop("POST_LOGOUT_REDIRECT_URI", None)
        settings.update(overrides)
        return settings

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


def serve(config: Config, host: str) -> None:
    try:
        server = make_server(create_app(config), host, config.port)
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
    local = parser.add_argument_group("local mode")
    local.add_argument("--instance", type=Path, default=DEFAULT_INSTANCE,
                       help="where the local tenant, the API and the web app keep their data "
                            "and logs (default ./instance)")
    local.add_argument("--tenant-port", type=int, help="the local tenant's https port (44360)")
    local.add_argument("--tenant-pages-port", type=int,
                       help="the local tenant's browser pages port (44361)")
    local.add_argument("--api-port", type=int, help="the ToDoList API's port (44351)")
    args = parser.parse_args(argv)
    source = load_env(args.env_file)
    if args.port:
        source["PORT"] = str(args.port)
    signal.signal(signal.SIGTERM, _interrupt)
    system: LocalSystem | None = None
    try:
        if tenant_configured(source):
            settings = source
        else:
            print("No tenant configured: starting the local tenant and the ToDoList API ...",
                  flush=True)
            system = LocalSystem(
                args.instance.resolve(), args.tenant_port, args.tenant_pages_port, args.api_port
            )
            settings = system.start(source)
        serve(Config.load(settings), args.host)  # returns on Ctrl-C / SIGTERM
        print("\nStopping ...", flush=True)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except StartError as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        if system is not None:
            system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
