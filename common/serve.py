"""`python -m common.serve TARGET`: production serving of the web app and the API with Granian.

    python -m common.serve app:create_app      # the web app (settings: environment over ./.env)
    python -m common.serve api:create_app      # the ToDoList API (environment over api/.env)

TARGET is a factory (`module:function`) each worker calls once. Granian (a Rust HTTP server) was
chosen over Gunicorn's threaded workers by `make bench` (docs/bench.md): less CPU per request,
and its HTTP/1 parser reads request headers outside Python with a deadline, so clients that
send half a header hold no Python thread. The WSGI app sits behind `common.buffering`'s front,
which receives each request body whole on the event loop, within `BODY_READ_TIMEOUT` and up to
`MAX_BODY_BYTES`, before a Python thread sees the request: clients that send half a body hold no
thread either.

Settings come from the environment only (`read_serve_settings`, table in docs/production.md):
`BIND` or `PORT`, `WEB_CONCURRENCY` processes with `THREADS` Python threads each, `TLS_CERT_FILE`
and `TLS_KEY_FILE` (the API serves https itself), `LOG_LEVEL`, the header and body deadlines,
the body limit and the graceful-stop timeout. SIGTERM or SIGINT stop the server: requests in
flight finish, then the workers are killed if they have not stopped after `GRACEFUL_TIMEOUT`
seconds.

Granian applies no `X-Forwarded-*` header (the web app applies them itself for
`TRUSTED_PROXY_HOPS` proxies) and writes no access log (each app logs one line per request).
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from common.buffering import BufferedWSGI, WSGIApp
from common.settings import SettingsError, SettingsReader

DEFAULT_PORT = 3000
# Python threads per worker, by app: what `make bench` measured best on throughput, p99 and
# steadiness (docs/bench.md). The web app's CPU-bound share is larger (templates, sessions):
# more threads there only queue for the GIL. Other apps get the API's.
DEFAULT_THREADS = {"app": 2, "api": 4}
OTHER_THREADS = 4
DEFAULT_HEADER_TIMEOUT = 5.0  # s: a request's headers must all arrive within this
DEFAULT_GRACEFUL_TIMEOUT = 20  # s
DEFAULT_BODY_TIMEOUT = 10.0  # s: a request's body must all arrive within this
# bytes: larger bodies are refused; both apps take no more (app/__init__.py, api/__init__.py)
DEFAULT_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class ServeSettings:
    host: str
    port: int
    workers: int
    threads: int
    cert_file: str | None
    key_file: str | None
    log_level: str
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_body: int = DEFAULT_MAX_BODY


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(value)
    return host.strip("[]"), int(port)


def _count(r: SettingsReader, name: str, default: int) -> int:
    value: int = r.get(name, default=default, parse=int, check=lambda v: v > 0,
                       expect="a whole number above 0")
    return value


def _seconds(r: SettingsReader, name: str, default: float) -> float:
    value: float = r.get(name, default=default, parse=float, check=lambda v: v > 0,
                         expect="a number of seconds above 0")
    return value


def default_threads(target: str) -> int:
    """The default `THREADS` for the app factory `target` (`module:function`)."""
    return DEFAULT_THREADS.get(target.partition(":")[0].split(".")[0], OTHER_THREADS)


def read_serve_settings(environ: Mapping[str, str], target: str = "") -> ServeSettings:
    """The server's settings from `environ` for the app `target`; one `SettingsError` naming
    every bad one."""
    r = SettingsReader("The server", environ)
    port = r.get("PORT", default=DEFAULT_PORT, parse=int, check=lambda p: 0 < p < 65536,
                  expect="a port number")
    host, port = r.get("BIND", default=("127.0.0.1", port), parse=_address,
                       expect="HOST:PORT, e.g. 127.0.0.1:3000 or 0.0.0.0:44351")
    workers = _count(r, "WEB_CONCURRENCY", multiprocessing.cpu_count())
    threads = _count(r, "THREADS", default_threads(target))
    header_timeout = _seconds(r, "HEADER_READ_TIMEOUT", DEFAULT_HEADER_TIMEOUT)
    graceful = _count(r, "GRACEFUL_TIMEOUT", DEFAULT_GRACEFUL_TIMEOUT)
    body_timeout = _seconds(r, "BODY_READ_TIMEOUT", DEFAULT_BODY_TIMEOUT)
    max_body = _count(r, "MAX_BODY_BYTES", DEFAULT_MAX_BODY)
    log_level = r.get("LOG_LEVEL", default="info", parse=str.lower,
                      check=lambda v: v in {"debug", "info", "warning", "error", "critical"},
                      expect="debug, info, warning, error or critical")
    cert, key = r.get("TLS_CERT_FILE"), r.get("TLS_KEY_FILE")
    if bool(cert) != bool(key):
        r.problem("TLS_CERT_FILE and TLS_KEY_FILE must be given together")
    for name, path in (("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)):
        if path and not os.access(path, os.R_OK):
            r.problem(f"{name} must be a readable PEM file")
    if header_timeout > 60:
        r.problem("HEADER_READ_TIMEOUT must be at most 60 seconds")
    if body_timeout > 300:
        r.problem("BODY_READ_TIMEOUT must be at most 300 seconds")
    r.finish()
    return ServeSettings(host, port, workers, threads, cert, key, log_level, header_timeout,
                         graceful, body_timeout, max_body)


def log_config(level: str) -> dict[str, Any]:
    """One stderr handler for Granian's own loggers and the apps', every line escaped."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "filters": ["escape"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"},
        },
        "filters": {"escape": {"()": "common.logsafe.EscapeControlCharacters"}},
        "handlers": {"stderr": handler},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "_granian": {"level": level.upper(), "handlers": [], "propagate": True},
            "granian.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


def factory_app(target: str) -> WSGIApp:
    """The app `target` (`module:function`) makes: called in each worker, after the fork."""
    module, _, name = target.partition(":")
    factory = getattr(importlib.import_module(module), name or "create_app")
    app: WSGIApp = factory()
    return app


def _worker_app(
    load: Callable[[], WSGIApp], settings: ServeSettings, _target: str
) -> BufferedWSGI:
    return BufferedWSGI(load(), threads=settings.threads, body_timeout=settings.body_timeout,
                        max_body=settings.max_body)


def serve(name: str, load: Callable[[], WSGIApp], settings: ServeSettings) -> None:
    """Serve the WSGI app `load()` returns in every worker (`name` is only for the log) until
    SIGTERM or SIGINT."""
    server(name, settings).serve(target_loader=partial(_worker_app, load, settings))


def server(name: str, settings: ServeSettings) -> Any:
    """The Granian server (not started): worker processes (`MPServer`, Granian's server for a
    Python with a GIL), each an event loop in front of its own WSGI threads."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import MPServer

    return MPServer(
        name,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGINL,
        workers=settings.workers,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout * 1000)),
        log_level=LogLevels(settings.log_level),
        log_dictconfig=log_config(settings.log_level),
        log_access=False,
        workers_kill_timeout=settings.graceful_timeout,
        ssl_cert=Path(settings.cert_file) if settings.cert_file else None,
        ssl_key=Path(settings.key_file) if settings.key_file else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.serve",
        description="Serve a WSGI app factory with Granian (settings from the environment: "
        "docs/production.md).",
    )
    parser.add_argument("target", help="the app factory, e.g. app:create_app or api:create_app")
    args = parser.parse_args(argv)
    try:
        settings = read_serve_settings(os.environ, args.target)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    serve(args.target, partial(factory_app, args.target), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
