"""Command line: arguments, settings, one operation, JSON out, exit status.

Exit status: 0 success; 1 any failure (settings missing or invalid, the tenant refusing the
token request, the API refusing or failing, a server out of reach), reported as one line on
stderr; 2 a usage error (argparse's convention).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from common.http import HttpClient
from common.settings import SettingsError, is_guid
from daemon.auth import TokenProvider
from daemon.client import OPERATIONS, ToDoClient
from daemon.config import DEFAULT_ENV_FILE, Config
from daemon.errors import DaemonError

PROG = "python -m daemon"
NEEDS = {
    "getToDos": ((), ("id", "description", "owner")),
    "getToDo": (("id",), ("description", "owner")),
    "postToDo": (("description",), ("id",)),
    "updateToDo": (("id", "description"), ("owner",)),
    "deleteToDo": (("id",), ("description", "owner")),
}


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value!r}")
    return number


def _guid(value: str) -> str:
    if not is_guid(value):
        raise argparse.ArgumentTypeError(f"must be a GUID, not {value!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    operations = "\n".join(f"  {name:<11} {op.summary}" for name, op in OPERATIONS.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Call the ToDoList API as the daemon application itself (OAuth 2.0\n"
        "client-credentials grant) and print the API's JSON answer.",
        epilog=f"operations:\n{operations}\n\n"
        "settings (environment variables win over daemon/.env or --env-file):\n"
        "  CLIENT_ID, AUTHORITY (or TENANT_SUBDOMAIN), SCOPES (the API's App ID URI),\n"
        "  CLIENT_SECRET, or CERT_PRIVATE_KEY_FILE with CERT_THUMBPRINT or CERT_FILE,\n"
        "  API_ENDPOINT, CA_FILE, TOKEN_CACHE_FILE (all optional)\n\n"
        "exit status: 0 success, 1 failure (one line on stderr), 2 usage error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--op", required=True, choices=list(OPERATIONS), metavar="OPERATION",
        help="one of: " + ", ".join(OPERATIONS),
    )
    parser.add_argument("--id", type=_positive_int, help="the item's id")
    parser.add_argument("--description", help="the item's text")
    parser.add_argument(
        "--owner", type=_guid, help="postToDo: the owner's object id (GUID) for the new item"
    )
    parser.add_argument(
        "--env-file", type=Path, help=f"dotenv file with the settings (default {DEFAULT_ENV_FILE})"
    )
    parser.add_argument(
        "--token-cache", metavar="FILE",
        help="keep the app token in FILE (mode 0600) across runs; overrides TOKEN_CACHE_FILE",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parsed arguments; usage errors exit 2 with argparse's message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    required, refused = NEEDS[args.op]
    for name in required:
        if getattr(args, name) is None:
            parser.error(f"--op {args.op} needs --{name}")
    for name in refused:
        if getattr(args, name) is not None:
            parser.error(f"--{name} does not apply to --op {args.op}")
    if args.description is not None and not args.description.strip():
        parser.error("--description must not be empty")
    if args.env_file is not None and not args.env_file.is_file():
        parser.error(f"--env-file {args.env_file}: no such file")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except SettingsError as exc:
        return fail("settings missing or invalid: " + "; ".join(exc.problems))
    except DaemonError as exc:
        return fail(str(exc))
    except Exception as exc:  # a bug must still be one line, not a stack trace
        return fail(f"unexpected failure ({type(exc).__name__})")
    print(json.dumps(result, indent=2))
    return 0


def run(args: argparse.Namespace) -> object:
    env_file = args.env_file if args.env_file is not None else DEFAULT_ENV_FILE
    config = Config.from_env(env_file, token_cache_file=args.token_cache)
    with HttpClient(ca_file=config.ca_file) as http:
        tokens = TokenProvider(config, http)
        client = ToDoClient(http, config.api_endpoint, tokens)
        return client.run(args.op, args.id, args.description, args.owner)


def fail(message: str) -> int:
    print(f"daemon: {' '.join(message.split())}", file=sys.stderr)
    return 1
