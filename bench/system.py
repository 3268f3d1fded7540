"""Starting the system under test: the local tenant, the API and the web app under Gunicorn, Redis.

Every server runs as a real process on free loopback ports with its data in the run's temporary
directory and its output in `<workdir>/logs/<name>.log`. `gunicorn_command` is the one place
that decides how Gunicorn is invoked (workers, threads, `--reuse-port`, TLS, logging); when the
repository gains a `gunicorn.conf.py` it is passed with `-c` and the command-line options here
override only what the benchmark must control (bind address, worker counts, TLS files, logs).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from common.http import HttpClient

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
REDIS_SERVER = "/usr/bin/redis-server"
START_TIMEOUT = 60.0


class StartError(Exception):
    """A server did not come up; the message names it and its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A server process with its output in a log file; stopped with SIGINT, then SIGKILL."""

    def __init__(
        self, name: str, args: Sequence[str], log_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.args = list(args)
        self.log_file = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by this process and its live children (the
        Gunicorn master and its workers), from /proc."""
        return sum(_cpu_seconds(pid) for pid in [self.pid, *_children(self.pid)])

    def start(self, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> Process:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited while starting; see {self.log_file}:\n"
                                 + self.log_file.read_text(errors="replace")[-3000:])
            if ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise StartError(f"{self.name} was not ready within {timeout:.0f}s; see {self.log_file}")

    def stop(self) -> None:
        """SIGINT (Gunicorn's quick shutdown; redis and werkzeug stop too), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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


def answers(url: str, ca_file: str | None = None) -> Callable[[], bool]:
    """A readiness probe: true once `url` answers with a status below 500."""
    http = HttpClient(ca_file=ca_file, timeout=(1.0, 3.0))

    def probe() -> bool:
        try:
            return http.get(url, allow_redirects=False).status_code < 500
        except requests.RequestException:
            return False

    return probe


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

    process: Process
    data_dir: Path
    https_url: str
    pages_url: str
    tenant_id: str
    ca_file: str

    @property
    def authority(self) -> str:
        return f"{self.https_url}/{self.tenant_id}"

    def env(self, component: str) -> dict[str, str]:
        """`python -m devtenant env <component>` as a dict."""
        result = subprocess.run(
            [sys.executable, "-m", "devtenant", "env", component, "--data-dir",
             str(self.data_dir)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
        values = {}
        for line in result.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip()
        return values


def start_tenant(workdir: Path) -> Tenant:
    data_dir = workdir / "devtenant"
    port, pages_port = free_port(), free_port()
    process = Process(
        "devtenant",
        [sys.executable, "-m", "devtenant", "--data-dir", str(data_dir), "--port", str(port),
         "--pages-port", str(pages_port)],
        workdir / "logs",
    )

    def ready() -> bool:
        try:
            tenant_id = json.loads((data_dir / "tenant.json").read_text())["tenant_id"]
        except (OSError, ValueError, KeyError):
            return False
        if not (data_dir / "ca.pem").is_file():
            return False
        url = f"https://localhost:{port}/{tenant_id}/v2.0/.well-known/openid-configuration"
        return answers(url, str(data_dir / "ca.pem"))()

    process.start(ready)
    tenant_id = json.loads((data_dir / "tenant.json").read_text())["tenant_id"]
    return Tenant(process, data_dir, f"https://localhost:{port}",
                  f"http://localhost:{pages_port}", tenant_id, str(data_dir / "ca.pem"))


@dataclass
class Api:
    process: Process
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
    env = {**settings, "DATABASE_URL": database_url}
    process = Process(
        "api",
        gunicorn_command("bench.wsgi:api_app()", port, workers=workers, threads=threads,
                         certfile=settings["TLS_CERT_FILE"], keyfile=settings["TLS_KEY_FILE"],
                         name="todolist-api"),
        workdir / "logs", env,
    )
    url = f"https://localhost:{port}"
    process.start(answers(f"{url}/healthz", tenant.ca_file))
    return Api(process, url, database_url)


@dataclass
class Redis:
    process: Process
    url: str

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)


def start_redis(workdir: Path) -> Redis:
    port = free_port()
    data = workdir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    process = Process(
        "redis",
        [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(data), "--protected-mode", "yes"],
        workdir / "logs",
    )
    url = f"redis://127.0.0.1:{port}/0"

    def ready() -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    process.start(ready)
    return Redis(process, url)


@dataclass
class Web:
    process: Process
    url: str  # http://localhost:<port>
    port: int
    store: str
    session_dir: Path


def start_web(
    tenant: Tenant, api: Api, workdir: Path, store: str, workers: int, threads: int,
    redis_url: str | None = None, wrap: Sequence[str] = (),
) -> Web:
    """The web app (`bench.wsgi:web_app()`: `app.create_app`) under Gunicorn, production settings.

    Production settings: Flask's template cache (on unless debugging; nothing here turns it
    off), no access log, warnings only. `wrap` prefixes the command (a profiler).
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
    process = Process(
        f"web-{store}",
        [*wrap, *gunicorn_command("bench.wsgi:web_app()", port, workers=workers, threads=threads,
                                  name=f"todo-web-{store}")],
        workdir / "logs", env,
    )
    process.start(answers(f"http://127.0.0.1:{port}/"))
    return Web(process, url, port, store, instance / "sessions")
