"""Starting the system under test: the local tenant, the API and the web app under Gunicorn, Redis.

Every server runs as a real process on free loopback ports with its data in the run's temporary
directory and its output in `<workdir>/logs/<name>.log`. `gunicorn_command` is the one place
that decides how Gunicorn is invoked (workers, threads, `--reuse-port`, TLS, logging); when the
repository gains a `gunicorn.conf.py` it is passed with `-c` and the command-line options here
override only what the benchmark must control (bind address, worker counts, TLS files, logs).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common.oidc import discovery_url
from common.process import ROOT, ServerProcess, http_ready
from devtenant.cli import env_settings
from devtenant.store import TenantStore
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

GUNICORN_CONF = ROOT / "gunicorn.conf.py"


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


def gunicorn_command(
    app: str,
    port: int,
    *,
    workers: int,
    threads: int,
    certfile: str | None = None,
    keyfile: str | None = None,
    name: str,
) -> list[str]:
    """How the benchmark runs a WSGI app under Gunicorn (the one place that decides it).

    gthread workers (keep-alive connections, several requests in flight per process),
    `--reuse-port` so that each worker has its own listening socket and the kernel spreads
    connections evenly (one shared socket leaves some workers idle under keep-alive load),
    no access log and warnings only (production's quiet logs).
    """
    args = [sys.executable, "-m", "gunicorn"]
    if GUNICORN_CONF.is_file():
        args += ["-c", str(GUNICORN_CONF)]
    args += [
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", "gthread",
        "--threads", str(threads),
        "--reuse-port",
        "--keep-alive", "30",
        "--log-level", "warning",
        "--error-logfile", "-",
        "--name", name,
        "--no-control-socket",
    ]
    if certfile and keyfile:
        args += ["--certfile", certfile, "--keyfile", keyfile]
    return [*args, app]


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


def start_api(tenant: Tenant, workdir: Path, workers: int, threads: int) -> Api:
    """The ToDoList API under Gunicorn over TLS (the tenant's server certificate), SQLite in WAL
    mode (the API's default for SQLite), the schema created before the workers start."""
    from api.storage import ToDoStore, make_engine

    settings = tenant.env("api")
    database_url = f"sqlite:///{workdir / 'api' / 'todolist.sqlite'}"
    (workdir / "api").mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url)
    ToDoStore(engine).create_schema()
    engine.dispose()
    port = free_port()
    url = f"https://localhost:{port}"
    process = server(
        "api",
        gunicorn_command("bench.wsgi:api_app()", port, workers=workers, threads=threads,
                         certfile=settings["TLS_CERT_FILE"], keyfile=settings["TLS_KEY_FILE"],
                         name="todolist-api"),
        workdir / "logs", http_ready(f"{url}/healthz", tenant.ca_file),
        {**settings, "DATABASE_URL": database_url},
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
    tenant: Tenant, api: Api, workdir: Path, store: str, workers: int, threads: int,
    redis_url: str | None = None,
) -> Web:
    """The web app (`bench.wsgi:web_app()`: `app.create_app`) under Gunicorn, production settings.

    Production settings: Flask's template cache (on unless debugging; nothing here turns it
    off), no access log, warnings only.
    """
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
    process = server(
        f"web-{store}",
        gunicorn_command("bench.wsgi:web_app()", port, workers=workers, threads=threads,
                         name=f"todo-web-{store}"),
        workdir / "logs", http_ready(f"http://127.0.0.1:{port}/"), env,
    )
    return Web(process, url, port, store, instance / "sessions")
