"""The harness's wrk side: parsing real wrk reports, and the Lua scenario scripts run by wrk."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bench import wrk

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_parse_plain_report() -> None:
    result = wrk.parse_wrk(sample("wrk-ok.txt"))
    assert result.requests == 1835
    assert result.duration_s == pytest.approx(2.01)
    assert result.requests_per_s == pytest.approx(911.66)
    assert (result.p50_ms, result.p75_ms, result.p90_ms, result.p99_ms) == pytest.approx(
        (1.49, 3.20, 5.91, 16.03)
    )
    assert result.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert result.errors == 0


def test_non_2xx_answers_are_errors() -> None:
    result = wrk.parse_wrk(sample("wrk-non2xx.txt"))
    assert result.non_2xx_3xx == 1147
    assert result.errors == 1147


def test_socket_errors_and_our_unexpected_statuses_are_errors() -> None:
    text = sample("wrk-ok.txt").replace(
        "Requests/sec:", "  Socket errors: connect 1, read 3, write 0, timeout 2\nRequests/sec:"
    ) + "BENCH unexpected=7\n"
    result = wrk.parse_wrk(text)
    assert result.socket_errors == {"connect": 1, "read": 3, "write": 0, "timeout": 2}
    assert result.unexpected_status == 7
    assert result.errors == 6 + 7


def test_real_scenario_report_with_the_scripts_line() -> None:
    """A report of scenario C at concurrency 16 from a real `python -m bench` run."""
    result = wrk.parse_wrk(sample("wrk-scenario-C16.txt"))
    assert result.unexpected_status == 0
    assert result.requests > 0
    assert result.requests_per_s > 0
    assert 0 < result.p50_ms <= result.p99_ms


def test_microseconds_and_seconds_become_milliseconds() -> None:
    text = sample("wrk-ok.txt").replace("1.49ms", "850.00us").replace("16.03ms", "1.20s")
    result = wrk.parse_wrk(text)
    assert result.p50_ms == pytest.approx(0.85)
    assert result.p99_ms == pytest.approx(1200.0)


def test_a_run_without_requests_parses_to_zero() -> None:
    result = wrk.parse_wrk(sample("wrk-timeouts.txt"))
    assert result.requests == 0
    assert result.requests_per_s == 0


def test_unrecognised_output_is_refused() -> None:
    with pytest.raises(wrk.WrkError):
        wrk.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused")


def test_lua_strings_are_escaped() -> None:
    assert wrk.lua_string('a"b\\c') == '"a\\"b\\\\c"'
    assert wrk.lua_string("é") == '"\\195\\169"'


# --- the scripts, run by the real wrk against a recording server -----------------------------


class Recorder(BaseHTTPRequestHandler):
    """Answers like the JSON proxy: GET 200, POST 201 with an id and the description, DELETE
    204; remembers every request's method, path and Cookie header."""

    seen: ClassVar[list[tuple[str, str, str]]] = []
    owners: ClassVar[dict[str, str]] = {}
    next_id = 0
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> str:
        cookie = self.headers.get("Cookie", "")
        with self.lock:
            self.seen.append((self.command, self.path, cookie))
        return cookie

    def do_GET(self) -> None:
        self._record()
        self._answer(200, b"[]")

    def do_POST(self) -> None:
        cookie = self._record()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            Recorder.next_id += 1
            item_id = Recorder.next_id
            self.owners[str(item_id)] = cookie
        out = json.dumps({"id": item_id, "owner": "x", "description": body["description"]})
        self._answer(201, out.encode())

    def do_DELETE(self) -> None:
        self._record()
        self.send_response(204)
        self.end_headers()


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """wrk drops its connections when the run ends; the broken pipes are expected."""


@pytest.fixture
def recorder() -> Iterator[str]:
    Recorder.seen, Recorder.owners, Recorder.next_id = [], {}, 0
    server = QuietServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


USERS = [{"Cookie": "todo_session=one"}, {"Cookie": "todo_session=two"},
         {"Cookie": "todo_session=three"}]


def test_read_script_rotates_users_and_counts_unexpected_statuses(
    recorder: str, tmp_path: Path
) -> None:
    result, output = wrk.run_wrk(recorder, wrk.read_script("/todos", USERS), tmp_path,
                                 connections=2, duration_s=1)
    assert "BENCH unexpected=0" in output
    assert result.errors == 0
    assert result.statuses == {"200": result.requests}
    cookies = {cookie for _, _, cookie in Recorder.seen}
    assert cookies == {u["Cookie"] for u in USERS}
    assert {path for _, path, _ in Recorder.seen} == {"/todos"}

    result, _ = wrk.run_wrk(recorder, wrk.read_script("/todos", USERS, expect=201), tmp_path,
                            connections=1, duration_s=1)
    assert result.unexpected_status == result.requests > 0
    assert result.errors == result.requests
    assert set(result.statuses) == {"200"}


def test_write_script_deletes_each_item_as_its_owner(recorder: str, tmp_path: Path) -> None:
    result, _ = wrk.run_wrk(recorder, wrk.write_script("/api/todolist", USERS), tmp_path,
                            connections=4, duration_s=1)
    assert result.errors == 0
    assert set(result.statuses) == {"201", "204"}
    posts = [r for r in Recorder.seen if r[0] == "POST"]
    deletes = [r for r in Recorder.seen if r[0] == "DELETE"]
    assert posts
    assert deletes
    assert len(posts) - len(deletes) <= 4  # at most one item in flight per connection
    for _, path, cookie in deletes:
        item_id = path.rsplit("/", 1)[1]
        assert Recorder.owners[item_id] == cookie
    assert {cookie for _, _, cookie in posts} == {u["Cookie"] for u in USERS}


def test_script_file_is_private(recorder: str, tmp_path: Path) -> None:
    wrk.run_wrk(recorder, wrk.read_script("/", USERS), tmp_path, connections=1, duration_s=1)
    assert (tmp_path / "scenario.lua").stat().st_mode & 0o777 == 0o600
