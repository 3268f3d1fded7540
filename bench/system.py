"""Starting the system under test: the local tenant, the API and the web app, Redis.

Every server runs as a real process on free loopback ports with its data in the run's temporary
directory and its output in `<workdir>/logs/<name>.log`. `serve_command` is the one place that
decides how a WSGI app is served: by a `ServerModel`, either the product's own way
(`python -m common.serve`: Granian, each request received whole by `common.buffering` first) or,
for the comparison, Granian's WSGI interface (no body deadline) or Gunicorn's gthread workers.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.oidc import discovery_url
from common.process import ServerProcess, http_ready
from common.serve import DEFAULT_HEADER_TIMEOUT
from devtenant.cli import env_settings
from devtenant.store import TenantStore
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

KINDS = ("granian", "granian-wsgi", "gunicorn")


@dataclass(frozen=True)
class ServerModel:
    """How the apps are served: `kind` granian (`common.serve`), granian-wsgi (Granian's WSGI
    interface) or gunicorn (gthread), with `workers` processes of `threads` Python threads
    each."""

    kind: str
    workers: int
    threads: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.workers}x{self.threads}"

    @classmethod
    def parse(cls, text: str, workers: int) -> ServerModel:
        """`granian:8`, `granian-wsgi:4` or `gunicorn:2` (kind:threads) with `workers`
        processes."""
        kind, _, threads = text.partition(":")
        if kind not in KINDS or not threads.isdigit() or int(threads) < 1:
            raise ValueError(text)
        return cls(kind, workers, int(threads))


def server(
    name: str, args: Sequence[str], log_dir: Path, ready: Callable[[], bool],
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """A started server, its output in `<log_dir>/<name>.log`, stopped with SIGINT (Gunicorn's
    quick shutdown; the tenant stops on it too)."""
    process = ServerProcess(args, log_dir / f"{name}.log", ready, env=env,
                            stop_signal=signal.SIGINT)
    return process.start()


def cpu_seconds(process: ServerProcess) -> float:
    """CPU time (user + system) used so far by `process` and its live children (the Gunicorn
    master and its workers), from /proc."""
    return sum(_cpu_seconds(pid) for pid in [process.pid, *_children(process.pid)])


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command: state(0) ... utime(11) stime(12) (proc(5) fields 14 and 15).
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def serve_command(
    model: ServerModel, target: str, port: int, *, tls: tuple[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command and environment serving the factory `target` (`module:function`) on
    127.0.0.1:`port` as `model` says, quiet (warnings only), https with `tls` (cert, key).

    For the comparison only: Granian's WSGI interface, what `common.serve` ran before it put
    `common.buffering` in front (Python threads read request bodies themselves), with the same
    header deadline; Gunicorn's gthread workers with `--reuse-port` (each worker its own
    listening socket, so the kernel spreads wrk's keep-alive connections evenly) and a 30 s
    keep-alive.
    """
    if model.kind == "granian":
        env = {"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(model.workers),
               "THREADS": str(model.threads), "LOG_LEVEL": "warning"}
        if tls:
            env["TLS_CERT_FILE"], env["TLS_KEY_FILE"] = tls
        return [sys.executable, "-m", "common.serve", target], env
    if model.kind == "granian-wsgi":
        args = [
            sys.executable, "-m", "granian", "--interface", "wsgi", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--http", "1", "--no-ws",
            "--workers", str(model.workers), "--blocking-threads", str(model.threads),
            "--http1-header-read-timeout", str(int(DEFAULT_HEADER_TIMEOUT * 1000)),
            "--log-level", "warning",
        ]  # fmt: skip
        if tls:
            args += ["--ssl-certificate", tls[0], "--ssl-keyfile", tls[1]]
        return [*args, target], {}
    args = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(model.workers),
        "--worker-class", "gthread",
        "--threads", str(model.threads),
        "--reuse-port",
        "--keep-alive", "30",
        "--log-level", "warning",
        "--error-logfile", "-",
        "--no-control-socket",
    ]  # fmt: skip
    if tls:
        args += ["--certfile", tls[0], "--keyfile", tls[1]]
    return [*args, f"{target}()"], {}


@dataclass
class Tenant:
    """The running local tenant and what the harness uses of it."""

    process: ServerProcess
    data_dir: Path
    https_url: str
    ca_file: str

    def env(self, component: str) -> dict[str, str]:
        """The settings `component` needs to use this tenant (`python -m devtenant env`); for
        the web app with a sign-in rate limit the benchmark's sign-ins from one address cannot
        reach."""
        settings = env_settings(TenantStore(self.data_dir), component)
        if component == "web":
            settings["SIGNIN_RATE_LIMIT"] = "100000 per minute"
        return settings


def start_tenant(workdir: Path) -> Tenant:
    data_dir = workdir / "devtenant"
    # Creating the data directory here first means the CA file exists for the readiness probe.
    store = TenantStore(data_dir, port=free_port(), pages_port=free_port())
    process = server(
        "devtenant", [sys.executable, "-m", "devtenant", "--data-dir", str(data_dir)],
        workdir / "logs", http_ready(discovery_url(store.authority), str(store.ca_file)),
    )
    return Tenant(process, data_dir, store.https_url, str(store.ca_file))


@dataclass
class Api:
    process: ServerProcess
    url: str  # https://localhost:<port>
    database_url: str

    @property
    def todolist_url(self) -> str:
        return f"{self.url}/api/todolist"


def start_api(tenant: Tenant, workdir: Path, model: ServerModel) -> Api:
    """The ToDoList API served as `model` says over TLS (the tenant's server certificate),
    SQLite in WAL mode (the API's default for SQLite), the schema created before the workers
    start. Several may run one after the other on the same database."""
    from api.storage import ToDoStore, make_engine

    settings = tenant.env("api")
    database_url = f"sqlite:///{workdir / 'api' / 'todolist.sqlite'}"
    (workdir / "api").mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url)
    ToDoStore(engine).create_schema()
    engine.dispose()
    port = free_port()
    url = f"https://localhost:{port}"
    args, serve_env = serve_command(
        model, "bench.wsgi:api_app", port,
        tls=(settings["TLS_CERT_FILE"], settings["TLS_KEY_FILE"]),
    )
    process = server(
        f"api-{model.kind}-{model.threads}", args, workdir / "logs",
        http_ready(f"{url}/healthz", tenant.ca_file),
        {**settings, "DATABASE_URL": database_url, **serve_env},
    )
    return Api(process, url, database_url)


def start_redis(workdir: Path) -> RedisServer:
    return RedisServer(workdir / "redis", workdir / "logs").start()


@dataclass
class Web:
    process: ServerProcess
    url: str  # http://localhost:<port>
    port: int
    store: str
    session_dir: Path


def start_web(
    tenant: Tenant, api: Api, workdir: Path, store: str, model: ServerModel,
    redis_url: str | None = None,
) -> Web:
    """The web app (`bench.wsgi:web_app`: `app.create_app`) served as `model` says, production
    settings: Flask's template cache (on unless debugging; nothing here turns it off), no access
    log, warnings only. The instance directory is the store's, so a web app started again for
    the same store finds the sessions (and the session secret) of the one before."""
    port = free_port()
    url = f"http://localhost:{port}"
    instance = workdir / f"web-{store}"
    env = {
        **tenant.env("web"),
        "TODOLIST_API_URL": api.todolist_url,
        "REDIRECT_URI": f"{url}/auth/redirect",
        "POST_LOGOUT_REDIRECT_URI": f"{url}/",
        "INSTANCE_DIR": str(instance),
        "PORT": str(port),
        "SESSION_TYPE": store,
        "FLASK_DEBUG": "0",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    args, serve_env = serve_command(model, "bench.wsgi:web_app", port)
    process = server(
        f"web-{store}-{model.kind}-{model.threads}", args, workdir / "logs",
        http_ready(f"http://127.0.0.1:{port}/"), {**env, **serve_env},
    )
    return Web(process, url, port, store, instance / "sessions")
