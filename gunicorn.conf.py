"""Gunicorn settings for both servers (docs/production.md):

    gunicorn -c gunicorn.conf.py 'app:create_app()'     # the web app (settings: ./.env)
    gunicorn -c gunicorn.conf.py 'api:create_app()'     # the ToDoList API (settings: api/.env)

Every value can be changed from the environment (below) or on the command line (`--workers`,
`--bind`, ... win over this file).

Workers and threads: `gthread` workers, `WEB_CONCURRENCY` processes (default: one per CPU core,
so 2 on a 2-core machine) with `THREADS` threads each (default 8). A request spends most of its
time waiting (for Redis, the tenant, the API, the database), which threads overlap; what needs
the CPU (RS256 checks, JSON, templates) holds the GIL, which only more processes spread over
the cores. More processes than cores only add memory and, for the web app, one tenant-discovery
fetch each. Raise THREADS (not WEB_CONCURRENCY) for more concurrent slow calls.

Logging: Gunicorn's access log is off; each app logs one line per request itself (method, path
with codes/tokens redacted, status, duration, request id). Gunicorn's error log gets a filter
that redacts the values of sensitive query parameters should it ever print a request URI; every
line has its control characters escaped (common/logsafe.py).
Forwarded headers: Gunicorn's own handling is switched off (`forwarded_allow_ips` empty; its
default trusts X-Forwarded-Proto from 127.0.0.1); the web app applies them with ProxyFix only
for `TRUSTED_PROXY_HOPS` proxies.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re

bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT') or '3000'}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
worker_class = "gthread"
threads = int(os.environ.get("THREADS") or 8)
# Several servers may bind the same address (a rolling restart starts the new one first).
reuse_port = True
timeout = int(os.environ.get("WORKER_TIMEOUT") or 30)
graceful_timeout = 20
keepalive = 5
# The API serves https itself: TLS_CERT_FILE / TLS_KEY_FILE (python -m devtenant env api).
certfile = os.environ.get("TLS_CERT_FILE") or None
keyfile = os.environ.get("TLS_KEY_FILE") or None
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
control_socket_disable = True
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL") or "info"
proc_name = os.environ.get("PROC_NAME") or None

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"},
    },
    # Control characters escaped in every line, Gunicorn's own and libraries' too (the apps'
    # loggers escape theirs already: common/logsafe.py).
    "filters": {"escape": {"()": "common.logsafe.EscapeControlCharacters"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "filters": ["escape"],
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}

_SENSITIVE = re.compile(
    r"(?i)\b(code|state|id_token|access_token|refresh_token|client_info|session_state|"
    r"csrf_token|client_secret|password)=[^&\s\"']*"
)


class _RedactQuery(logging.Filter):
    """Replaces the values of sensitive query parameters in Gunicorn's messages by `[...]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _SENSITIVE.sub(r"\1=[...]", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SENSITIVE.sub(r"\1=[...]", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def on_starting(server: object) -> None:
    logging.getLogger("gunicorn.error").addFilter(_RedactQuery())
    # `--log-level` on the command line applies to the apps' loggers too (e.g. `warning`
    # silences the per-request lines).
    logging.getLogger().setLevel(server.cfg.loglevel.upper())  # type: ignore[attr-defined]
