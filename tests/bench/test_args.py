"""`python -m bench`'s options: which load runs (`--only`), how the apps are served (server
models), how many rounds."""

from __future__ import annotations

import pytest

from bench.__main__ import parse_args, selected
from bench.system import ServerModel, serve_command


def test_only_selects_the_named_runs() -> None:
    args = parse_args(["--only", "a16, C16"])
    assert args.only == {"A16", "C16"}
    assert selected(args, "A", 16)
    assert selected(args, "C", 16)
    assert not selected(args, "A", 1)
    assert not selected(args, "B", 16)


def test_without_only_every_run_is_selected() -> None:
    args = parse_args([])
    assert args.only is None
    assert all(selected(args, n, c) for n in "ABCD" for c in (1, 16))


@pytest.mark.parametrize("value", ["E16", "A2", "", "B"])
def test_only_refuses_unknown_runs(value: str) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--only", value])


def test_server_models_are_kind_and_threads() -> None:
    args = parse_args(["--web-server", "gunicorn:2", "--compare",
                       "granian:4,gunicorn:8,granian-wsgi:2", "--workers", "3"])
    assert args.web_model == ServerModel("gunicorn", 3, 2)
    assert args.api_model.kind == "granian"
    assert [m.label for m in args.compare_models] == ["granian 3x4", "gunicorn 3x8",
                                                      "granian-wsgi 3x2"]
    assert parse_args(["--compare", "none"]).compare_models == []
    assert parse_args(["--only", "C16"]).compare_models == []
    assert parse_args([]).rounds == 3


@pytest.mark.parametrize("value", ["uwsgi:8", "granian", "granian:0", "gunicorn:x"])
def test_unknown_server_models_are_refused(value: str) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--web-server", value])


def test_the_kinds_are_served_as_the_product_granian_wsgi_and_gunicorn_would() -> None:
    args, env = serve_command(ServerModel("granian", 2, 8), "bench.wsgi:api_app", 4000,
                              tls=("c.pem", "k.pem"))
    assert args[1:] == ["-m", "common.serve", "bench.wsgi:api_app"]
    assert env == {"BIND": "127.0.0.1:4000", "WEB_CONCURRENCY": "2", "THREADS": "8",
                   "LOG_LEVEL": "warning", "TLS_CERT_FILE": "c.pem", "TLS_KEY_FILE": "k.pem"}
    args, env = serve_command(ServerModel("gunicorn", 2, 1), "bench.wsgi:web_app", 4001)
    assert args[1:3] == ["-m", "gunicorn"]
    assert args[-1] == "bench.wsgi:web_app()"
    assert args[args.index("--threads") + 1] == "1"
    assert env == {}
    args, env = serve_command(ServerModel("granian-wsgi", 2, 4), "bench.wsgi:api_app", 4002,
                              tls=("c.pem", "k.pem"))
    assert args[1:5] == ["-m", "granian", "--interface", "wsgi"]
    assert args[-1] == "bench.wsgi:api_app"
    assert args[args.index("--blocking-threads") + 1] == "4"
    assert args[args.index("--ssl-keyfile") + 1] == "k.pem"
    assert env == {}
