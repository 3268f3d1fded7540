"""Start the web app at http://localhost:3000 — with no tenant configured, the whole local system.

    python run.py [--env-file .env] [--host 127.0.0.1] [--port 3000]

With a tenant in the settings (`CLIENT_ID`, `AUTHORITY` or `TENANT_SUBDOMAIN` in the
environment or `.env`), only the web app starts, against that tenant. Without one, local mode
starts the local tenant (`python -m devtenant`, data in instance/devtenant) and the ToDoList API
(`python -m api`, https://localhost:44351), wires the three together with the settings the
tenant gives each (what `python -m devtenant env api|web` prints) and the local CA file, and
serves the web app. Ctrl-C stops all of them.

The server is Werkzeug's threaded WSGI server, which is fit for local use; a production
deployment runs `app:create_app()` under a production WSGI server instead.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from app import create_app
from app.serving import make_server
from common.oidc import discovery_url
from common.process import ServerProcess, StartError, http_ready
from common.settings import SettingsError, load_env
from config import DEFAULT_ENV_FILE, Config, tenant_configured
from devtenant.cli import env_settings
from devtenant.store import TenantStore

ROOT = Path(__file__).resolve().parent
DEFAULT_INSTANCE = ROOT / "instance"
# Settings of the web server itself that a person may set in local mode too.
LOCAL_OVERRIDES = ("PORT", "SESSION_TYPE", "REDIS_URL", "SESSION_SECRET", "INSTANCE_DIR")


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
        self.processes: list[ServerProcess] = []

    def _start(self, process: ServerProcess) -> None:
        self.processes.append(process)
        process.start()

    def start(self, source: Mapping[str, str]) -> dict[str, str]:
        """Start the tenant, then the API; return the web app's settings for them."""
        # Opening the store creates the tenant's data directory on the first run (with the
        # ports asked for, which the server then reads), so its authority and CA file are
        # known before the server answers.
        port, pages_port = self.tenant_ports
        store = TenantStore(self.tenant_dir, port=port, pages_port=pages_port)
        self._start(ServerProcess(
            [sys.executable, "-m", "devtenant", "--data-dir", str(self.tenant_dir)],
            self.log_dir / "devtenant.log",
            http_ready(discovery_url(store.authority), str(store.ca_file)),
            stop_signal=signal.SIGINT,
        ))  # fmt: skip
        web, api = env_settings(store, "web"), env_settings(store, "api")
        api_port = self.api_port or urlsplit(web["TODOLIST_API_URL"]).port or 44351
        base = f"https://localhost:{api_port}"
        api_settings = {
            **api,
            "DATABASE_URL": f"sqlite:///{self.instance / 'api' / 'todolist.sqlite'}",
        }
        self._start(ServerProcess(
            # Not api/.env: in local mode every API setting comes from the local tenant.
            [sys.executable, "-m", "api",
             "--env-file", str(self.instance / "api" / "local-mode.env"),
             "--host", "127.0.0.1", "--port", str(api_port)],
            self.log_dir / "api.log",
            http_ready(f"{base}/healthz", web["CA_FILE"]),
            env=api_settings,
            stop_signal=signal.SIGINT,  # Gunicorn's quick shutdown, as Ctrl-C would
        ))  # fmt: skip
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
        for process in reversed(self.processes):
            process.stop()


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
