"""Start the web app at http://localhost:3000 — with no tenant configured, the whole local system.

    python run.py [--env-file .env] [--host 127.0.0.1] [--port 3000] [--instance instance]
                  [--tenant-port 44360] [--tenant-pages-port 44361] [--api-port 44351]

With a tenant in the settings (`CLIENT_ID`, `AUTHORITY` or `TENANT_SUBDOMAIN` in the environment
or `.env`), only the web app starts, against that tenant. Without one, local mode starts the
local tenant (`python -m devtenant --profile-step-up`, data in instance/devtenant) and the
ToDoList API (`python -m api` with `REQUIRE_MFA_FOR_DELETE`, https://localhost:44351), so that
saving the profile and deleting an item ask for a second factor, wires the three together with
the settings the tenant gives each (what `python -m devtenant env api|web` prints) and the local
CA file, and serves the web app. Ctrl-C stops all of them; so does either child exiting (run.py
names it and its log, and exits with status 1).

Before anything starts, every port is bound once to see that it is free; a port in use is
reported with its option and a command line that avoids it. The tenant's ports are written to
its data (where `python -m devtenant env` reads them) only then, and put back as they were when
the tenant does not come up: a busy or broken start never changes what later runs use.

Logs: instance/logs/devtenant.log, api.log, and web.log (also on the console). The server is
Werkzeug's threaded WSGI server, which is fit for local use; a production deployment runs
`app:create_app()` under a production WSGI server instead.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from app import create_app
from app.serving import make_server
from common.logsafe import EscapeControlCharacters
from common.oidc import discovery_url
from common.process import ServerProcess, StartError, http_ready
from common.settings import SettingsError, load_env
from config import DEFAULT_ENV_FILE, DEFAULT_PORT, Config, tenant_configured
from devtenant.cli import env_settings
from devtenant.store import TenantStore

ROOT = Path(__file__).resolve().parent
DEFAULT_INSTANCE = ROOT / "instance"
DEFAULT_API_PORT = 44351  # where the original listened; the API address devtenant's env names
# Settings of the web server itself that a person may set in local mode too.
LOCAL_OVERRIDES = ("PORT", "SESSION_TYPE", "REDIS_URL", "SESSION_SECRET", "INSTANCE_DIR")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
WATCH_INTERVAL = 0.5  # seconds between looks at whether a child has exited
CHILDREN = {"devtenant": "the local tenant", "api": "the ToDoList API"}  # by log file name


class ChildExited(RuntimeError):
    """The local tenant or the API exited while the web app was serving."""


@dataclass(frozen=True)
class Port:
    """A port to be listened on, by whom, and the option of run.py that chooses it."""

    number: int
    host: str
    what: str
    option: str


def in_use(port: Port) -> bool:
    """Whether `port` cannot be bound on its host right now (as the servers bind it)."""
    family = socket.AF_INET6 if ":" in port.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((port.host, port.number))
        except OSError:
            return True
    return False


def check_ports(ports: Sequence[Port], argv: Sequence[str]) -> None:
    """Raise `StartError` naming every port in use, with a command line that avoids them."""
    busy = [port for port in ports if in_use(port)]
    if not busy:
        return
    taken = {port.number for port in ports}
    fixed = list(argv)
    lines = []
    for port in busy:
        other = next((n for n in range(port.number + 1, 65536)
                      if n not in taken and not in_use(replace(port, number=n))), port.number)
        taken.add(other)
        fixed = _with_option(fixed, port.option, other)
        lines.append(f"  - port {port.number}, {port.what} ({port.option})")
    raise StartError(
        "cannot start: these ports are in use by another program:\n" + "\n".join(lines)
        + "\nstop what holds them, or choose other ports:\n  "
        + shlex.join(["python", "run.py", *fixed])
    )


def _with_option(argv: list[str], option: str, value: int) -> list[str]:
    """`argv` with `option` set to `value` (any earlier value of it dropped)."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(f"{option}="):
            kept.append(arg)
    return [*kept, option, str(value)]


def _port(value: str) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return number


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
        # Creates the tenant's data directory on the first run (with the default ports), so
        # its authority and CA file are known before the server answers.
        stored = TenantStore(self.tenant_dir)
        self.stored_ports = (stored.port, stored.pages_port)
        self.tenant_host = stored.host
        self.tenant_ports = (tenant_port or stored.port, tenant_pages_port or stored.pages_port)
        self.api_port = api_port or DEFAULT_API_PORT
        self.processes: list[ServerProcess] = []

    def ports(self) -> list[Port]:
        port, pages_port = self.tenant_ports
        return [
            Port(port, self.tenant_host, "the local tenant's https port", "--tenant-port"),
            Port(pages_port, self.tenant_host, "the local tenant's sign-in pages",
                 "--tenant-pages-port"),
            Port(self.api_port, "127.0.0.1", "the ToDoList API", "--api-port"),
        ]

    def _start(self, process: ServerProcess) -> None:
        self.processes.append(process)
        process.start()

    def start(self, source: Mapping[str, str]) -> dict[str, str]:
        """Start the tenant, then the API; return the web app's settings for them."""
        port, pages_port = self.tenant_ports
        store = TenantStore(self.tenant_dir, port=port, pages_port=pages_port)
        try:
            self._start(ServerProcess(
                # --profile-step-up: saving the profile asks for a second factor.
                [sys.executable, "-m", "devtenant", "--data-dir", str(self.tenant_dir),
                 "--profile-step-up"],
                self.log_dir / "devtenant.log",
                http_ready(discovery_url(store.authority), str(store.ca_file)),
                stop_signal=signal.SIGINT,
            ))  # fmt: skip
        except BaseException:
            # It did not come up on these ports: later runs keep the ones it last served on.
            old_port, old_pages_port = self.stored_ports
            TenantStore(self.tenant_dir, port=old_port, pages_port=old_pages_port)
            raise
        web, api = env_settings(store, "web"), env_settings(store, "api")
        base = f"https://localhost:{self.api_port}"
        api_settings = {
            **api,
            "DATABASE_URL": f"sqlite:///{self.instance / 'api' / 'todolist.sqlite'}",
            # A delete asks for a second factor (a claims challenge for context c1).
            "REQUIRE_MFA_FOR_DELETE": "true",
        }
        self._start(ServerProcess(
            # Not api/.env: in local mode every API setting comes from the local tenant.
            [sys.executable, "-m", "api",
             "--env-file", str(self.instance / "api" / "local-mode.env"),
             "--host", "127.0.0.1", "--port", str(self.api_port)],
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

    def exited(self) -> str | None:
        """What to say of the first child that has exited, or None while all run."""
        for process in self.processes:
            if not process.running:
                label = CHILDREN.get(process.name, process.name)
                return (f"{label} exited with status {process.wait(0)}; its log is "
                        f"{process.log_file}")
        return None

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def log_to(path: Path) -> None:
    """The web app's log on the console and appended to `path`, control characters escaped.
    The app's own request line (with its request id) stands in for Werkzeug's access log, as
    under Gunicorn."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr), logging.FileHandler(path)]
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(EscapeControlCharacters())
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def serve(config: Config, host: str, system: LocalSystem | None) -> None:
    """Serve; return on Ctrl-C or SIGTERM (Werkzeug's `serve_forever` ends quietly on
    KeyboardInterrupt), raise `ChildExited` when a child of `system` exits."""
    try:
        server = make_server(create_app(config), host, config.port)
    except OSError as exc:
        raise StartError(f"cannot listen on {host}:{config.port} ({exc.strerror})") from exc
    print(f"The web app is running at http://localhost:{config.port}  (Ctrl-C stops it)",
          flush=True)
    stopped = threading.Event()
    exited: list[str] = []

    def watch(children: LocalSystem) -> None:
        while not stopped.wait(WATCH_INTERVAL):
            why = children.exited()
            if why is not None:
                exited.append(why)
                server.shutdown()  # serve_forever returns
                return

    if system is not None:
        threading.Thread(target=watch, args=(system,), name="children", daemon=True).start()
    try:
        server.serve_forever()
    finally:
        stopped.set()
        server.server_close()
    if exited:
        raise ChildExited(exited[0])


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops everything as Ctrl-C does."""
    raise KeyboardInterrupt


def _web_port(source: Mapping[str, str]) -> int:
    """The port the settings ask for (an invalid PORT is reported when they are loaded)."""
    try:
        return _port(source.get("PORT") or str(DEFAULT_PORT))
    except (ValueError, argparse.ArgumentTypeError):
        return DEFAULT_PORT


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", default=str(DEFAULT_ENV_FILE),
                        help="dotenv file with the web app's settings (default ./.env)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=_port,
                        help=f"the web app's port (default PORT or {DEFAULT_PORT})")
    parser.add_argument("--instance", type=Path, default=DEFAULT_INSTANCE,
                        help="where the logs go (logs/) and, in local mode, where the local "
                             "tenant, the API and the web app keep their data (default "
                             "./instance)")
    local = parser.add_argument_group("local mode")
    local.add_argument("--tenant-port", type=_port,
                       help="the local tenant's https port (default: the one it last used, "
                            "first 44360)")
    local.add_argument("--tenant-pages-port", type=_port,
                       help="the local tenant's sign-in pages port (default: the one it last "
                            "used, first 44361)")
    local.add_argument("--api-port", type=_port,
                       help=f"the ToDoList API's port (default {DEFAULT_API_PORT})")
    args = parser.parse_args(argv)
    source = load_env(args.env_file)
    if args.port:
        source["PORT"] = str(args.port)
    signal.signal(signal.SIGTERM, _interrupt)
    system: LocalSystem | None = None
    try:
        if tenant_configured(source):
            config = Config.load(source)
            check_ports([Port(config.port, args.host, "the web app", "--port")], argv)
        else:
            print("No tenant configured: starting the local tenant and the ToDoList API ...",
                  flush=True)
            system = LocalSystem(
                args.instance.resolve(), args.tenant_port, args.tenant_pages_port, args.api_port
            )
            ports = [Port(_web_port(source), args.host, "the web app", "--port"),
                     *system.ports()]
            if len({port.number for port in ports}) < len(ports):
                parser.error("the web app, the local tenant (both ports) and the API need "
                             f"four different ports, not {', '.join(str(p.number) for p in ports)}")
            check_ports(ports, argv)
            config = Config.load(system.start(source))
        log_to(args.instance.resolve() / "logs" / "web.log")
        serve(config, args.host, system)
        print("\nStopping ...", flush=True)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (StartError, ChildExited) as exc:
        print(f"run.py: {exc}", file=sys.stderr)
        if isinstance(exc, ChildExited):
            print("Stopping the rest ...", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
    finally:
        if system is not None:
            system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
