"""Command line: serve the tenant, print component settings (`env`), add users."""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from devtenant.store import (
    DEFAULT_DATA_DIR,
    DEFAULT_HOST,
    DEFAULT_PAGES_PORT,
    DEFAULT_PORT,
    TenantStore,
    UserExists,
)
from devtenant.urls import graph_base_url

API_URL = "https://localhost:44351/api/todolist"
# The custom attribute the local tenant's users have for the web app's profile page (Graph
# keeps any `extension_<id>_<Name>`; this is the one `env web` tells the web app to show).
LOCAL_CUSTOM_ATTRIBUTES = "loyaltyTier"
CREDENTIALS = ("secret", "thumbprint", "certificate")


def _credential(store: TenantStore, reg: dict[str, Any], credential: str) -> dict[str, str]:
    if credential == "secret":
        return {"CLIENT_SECRET": reg["client_secret"]}
    settings = {
        "CERT_PRIVATE_KEY_FILE": str(store.dir / reg["private_key_file"]),
        "CERT_THUMBPRINT": reg["thumbprint_sha1"],
    }
    if credential == "certificate":  # MSAL then sends the certificate (x5c, PS256)
        settings["CERT_FILE"] = str(store.dir / reg["certificate_file"])
    return settings


def env_settings(store: TenantStore, component: str, credential: str = "secret") -> dict[str, str]:
    """The settings `component` ("web", "api", "daemon") needs to use this tenant."""
    if credential not in CREDENTIALS:
        raise ValueError(f"credential must be one of {', '.join(CREDENTIALS)}")
    regs = store.registrations
    api = regs["api"]
    ca_file = str(store.ca_file)
    if component == "web":
        web = regs["web"]
        return {
            "AUTHORITY": store.authority,
            "CLIENT_ID": web["client_id"],
            **_credential(store, web, credential),
            "REDIRECT_URI": web["redirect_uris"][0],
            "POST_LOGOUT_REDIRECT_URI": web["post_logout_redirect_uris"][0],
            "TODOLIST_READ": f"{api['app_id_uri']}/ToDoList.Read",
            "TODOLIST_READWRITE": f"{api['app_id_uri']}/ToDoList.ReadWrite",
            "TODOLIST_API_URL": API_URL,
            "GRAPH_BASE_URL": graph_base_url(store),
            "EXTENSIONS_APP_ID": store.extensions_app_id,
            "CUSTOM_ATTRIBUTES": LOCAL_CUSTOM_ATTRIBUTES,
            "CA_FILE": ca_file,
        }
    if component == "api":
        return {
            "TENANT_ID": store.tenant_id,
            "CLIENT_ID": api["client_id"],
            "AUTHORITY": store.authority,
            "CA_FILE": ca_file,
            "TLS_CERT_FILE": str(store.server_cert_file),
            "TLS_KEY_FILE": str(store.server_key_file),
        }
    if component == "daemon":
        daemon = regs["daemon"]
        return {
            "CLIENT_ID": daemon["client_id"],
            "AUTHORITY": store.authority,
            **_credential(store, daemon, credential),
            "API_ENDPOINT": API_URL,
            "SCOPES": api["app_id_uri"],
            "CA_FILE": ca_file,
        }
    raise ValueError("component must be web, api or daemon")


def serve(
    data_dir: Path,
    host: str | None,
    port: int | None,
    pages_port: int | None,
    sign_in_method: str | None = None,
    profile_step_up: bool = False,
) -> None:
    """Run the https server (discovery, keys, token, admin) and the http pages server."""
    from devtenant.app import Config, create_app

    config = Config(
        data_dir=data_dir,
        host=host,
        port=port,
        pages_port=pages_port,
        sign_in_method=sign_in_method,
        profile_step_up=profile_step_up,
    )
    app = create_app(config)
    store = app.extensions["devtenant"].store
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(store.server_cert_file, store.server_key_file)
    https = make_server(store.host, store.port, app, threaded=True, ssl_context=tls)
    pages = make_server(store.host, store.pages_port, app, threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    thread = threading.Thread(target=https.serve_forever, name="devtenant-https", daemon=True)
    thread.start()
    print(
        f"devtenant {store.tenant_name} ({store.tenant_id})\n"
        f"  authority {store.authority}\n"
        f"  pages     {store.pages_url}/{store.tenant_id}\n"
        f"  CA file   {store.ca_file}",
        flush=True,
    )
    try:
        pages.serve_forever()
    finally:
        https.shutdown()
        pages.server_close()
        https.server_close()


def build_parser() -> argparse.ArgumentParser:
    data_dir_help = f"tenant data directory, created on first use (default: {DEFAULT_DATA_DIR})"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=DEFAULT_DATA_DIR, type=Path, help=data_dir_help)
    # Sub-commands accept --data-dir too, without overriding one given before the command.
    sub_common = argparse.ArgumentParser(add_help=False)
    sub_common.add_argument("--data-dir", default=argparse.SUPPRESS, type=Path, help=data_dir_help)
    parser = argparse.ArgumentParser(
        prog="python -m devtenant",
        description="A local Microsoft Entra External ID tenant for development and tests. "
        "Without a command it serves: https (discovery, keys, token, admin) on --port and the "
        "browser pages (sign-in, sign-up, sign-out) on plain http --pages-port.",
        parents=[common],
    )
    parser.add_argument(
        "--host", default=None, help=f"address to bind (default: {DEFAULT_HOST}; stored)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"https port for server-to-server endpoints (default: {DEFAULT_PORT}; stored in "
        "the data dir so `env` prints matching URLs)",
    )
    parser.add_argument(
        "--pages-port",
        type=int,
        default=None,
        help=f"plain http port for the browser pages (default: {DEFAULT_PAGES_PORT}; stored)",
    )
    parser.add_argument(
        "--sign-in-method",
        choices=["password", "email_otp"],
        default=None,
        help="the user flow's sign-in method: email with password, or email one-time passcode "
        "(default: password; stored in the data dir until changed)",
    )
    parser.add_argument(
        "--profile-step-up",
        action="store_true",
        help="add Graph's User.ReadWrite to the MFA policy (stored in the data dir until "
        "changed): saving the web app's profile then asks for a second factor (run.py's "
        "local mode)",
    )
    commands = parser.add_subparsers(dest="command", metavar="{env,add-user}")
    env = commands.add_parser(
        "env", parents=[sub_common], help="print KEY=value settings a component needs"
    )
    env.add_argument("component", choices=["web", "api", "daemon"])
    env.add_argument(
        "--credential",
        choices=CREDENTIALS,
        default="secret",
        help="client credential to print for web/daemon (default: secret)",
    )
    add = commands.add_parser("add-user", parents=[sub_common], help="create a user")
    add.add_argument("--email", required=True)
    add.add_argument("--password", required=True)
    add.add_argument("--name", required=True, help="display name")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "env":
        store = TenantStore(args.data_dir)
        for key, value in env_settings(store, args.component, args.credential).items():
            print(f"{key}={value}")
        return 0
    if args.command == "add-user":
        store = TenantStore(args.data_dir)
        try:
            user = store.add_user(args.email, args.password, args.name)
        except UserExists:
            parser.exit(1, f"error: a user with email {args.email} already exists\n")
        except ValueError as exc:
            parser.exit(1, f"error: {exc}\n")
        print(f"OID={user.oid}")
        return 0
    try:
        serve(args.data_dir, args.host, args.port, args.pages_port, args.sign_in_method,
              args.profile_step_up)
    except OSError as exc:
        parser.exit(1, f"error: cannot serve: {exc}\n")
    except KeyboardInterrupt:
        pass
    return 0
