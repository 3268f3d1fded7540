"""`python -m api`: serve the ToDoList API over https (Granian, `common.serve`).

Start-up fails with a clear message and exit status 2 when a setting is missing or invalid,
and with exit status 3 when the tenant's discovery document or keys cannot be fetched (the API
cannot validate any token without them; a supervisor may restart it).
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from typing import Any

from common.oidc import DiscoveryError, TokenError
from common.serve import DEFAULT_THREADS, ServeSettings, serve
from common.settings import SettingsError

from . import create_app
from .config import DEFAULT_ENV_FILE, Config

log = logging.getLogger("api")


def _after_fork(app: Any) -> Any:
    """The app for a worker: connections opened before the fork (schema creation, seeding) are
    not shared with the parent."""
    app.extensions["todolist.store"].engine.dispose(close=False)
    return app


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m api",
        description="Serve the ToDoList API. Settings come from the environment and the "
        "dotenv file (`python -m devtenant env api > api/.env` for the local tenant).",
    )
    parser.add_argument("--env-file", default=str(DEFAULT_ENV_FILE), help="default: api/.env")
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=44351, help="default: 44351")
    parser.add_argument("--cert", help="TLS certificate (PEM); default: TLS_CERT_FILE")
    parser.add_argument("--key", help="TLS private key (PEM); default: TLS_KEY_FILE")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS["api"],
                        help=f"threads per process (default {DEFAULT_THREADS['api']})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = Config.from_env(args.env_file)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    cert = args.cert or config.tls_cert_file
    key = args.key or config.tls_key_file
    if not cert or not key:
        print(
            "The ToDoList API cannot start: it serves https only; give --cert and --key or "
            "set TLS_CERT_FILE and TLS_KEY_FILE (`python -m devtenant env api` prints them).",
            file=sys.stderr,
        )
        return 2
    try:
        app = create_app(config)
    except (DiscoveryError, TokenError) as exc:
        print(
            f"The ToDoList API cannot start: {exc}. Is the tenant at {config.authority} "
            "running and is CA_FILE the CA that signed its certificate?",
            file=sys.stderr,
        )
        return 3
    settings = ServeSettings(
        host=args.host, port=args.port, workers=args.workers, threads=args.threads,
        cert_file=cert, key_file=key, log_level="info",
    )
    log.info("serving https://%s:%s (authority %s)", args.host, args.port, config.authority)
    serve("todolist-api", partial(_after_fork, app), settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
