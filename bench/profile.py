"""`--profile`: scenario C at concurrency 16 with the web app's workers sampled by py-spy, then
scenario A at concurrency 16 with the API's.

py-spy attaches to the server's main process and its workers (`--subprocesses`) without restarting
them and samples the threads that are on the CPU (idle threads are left out: waiting for the
API costs no CPU). The collapsed stacks (`--format raw`, one `frame;frame;... count` line per
distinct stack; speedscope and flamegraph.pl read it) go to `bench-results/profile-C16.txt`
(`profile-A16.txt` for the API), and `summarize` turns them into the share of samples spent
in each part of the request path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import wrk

if TYPE_CHECKING:
    from .__main__ import Runner

SAMPLE_RATE = 200  # Hz per process

Stack = list[str]


def _function(frame: str) -> str:
    """The function's name in a py-spy frame `Class.method (file:line)` → `method`."""
    return frame.partition(" (")[0].rpartition(".")[2]


def _has(fn: str, file_part: str) -> Callable[[Stack], bool]:
    def test(stack: Stack) -> bool:
        return any(_function(f) == fn and file_part in f for f in stack)

    return test


def _file(file_part: str) -> Callable[[Stack], bool]:
    return lambda stack: any(file_part in f for f in stack)


def _all(*tests: Callable[[Stack], bool]) -> Callable[[Stack], bool]:
    return lambda stack: all(t(stack) for t in tests)


def _not(test: Callable[[Stack], bool]) -> Callable[[Stack], bool]:
    return lambda stack: not test(stack)


IN_APP = _has("wsgi_app", "flask/app.py")
# Granian parses HTTP and does TLS in Rust, which py-spy does not see; its Python part is the
# glue: under the product's serving, `common.buffering` (the event loop that receives each
# request and hands it to a thread, and the environ it builds); under Granian's WSGI interface,
# Granian's own WSGI wrapper. Gunicorn does all of it in Python.
SERVER_FILES = ("gunicorn/", "granian/", "common/buffering.py", "asyncio/", "concurrent/futures/")


def in_server(stack: Stack) -> bool:
    return any(marker in f for f in stack for marker in SERVER_FILES)

# The parts of the request path the optimisation phase asks about; a sample counts for every
# part whose frame is on its stack (parts nest: the HTTPS call is inside the proxy's view).
PARTS: list[tuple[str, Callable[[Stack], bool]]] = [
    ("Flask app, whole request (wsgi_app)", IN_APP),
    ("the server's Python outside the app (Granian's glue; Gunicorn: parsing, I/O, loop)",
     _all(in_server, _not(IN_APP))),
    ("session load (Flask-Session open_session)", _has("open_session", "flask_session/")),
    ("session save (Flask-Session save_session)", _has("save_session", "flask_session/")),
    ("identity.acquire_token (session cache → MSAL → token)",
     _has("acquire_token", "app/identity.py")),
    ("MSAL app construction (ConfidentialClientApplication.__init__)",
     _has("__init__", "msal/application.py")),
    ("MSAL acquire_token_silent_with_error", _has("acquire_token_silent_with_error", "msal/")),
    ("MSAL token cache deserialize/serialize",
     lambda s: _has("deserialize", "msal/token_cache.py")(s)
     or _has("serialize", "msal/token_cache.py")(s)),
    ("HTTPS call to the API (requests/urllib3/ssl under app/api_client.py)",
     _all(_file("app/api_client.py"), lambda s: any(
         "requests/" in f or "urllib3/" in f or "ssl.py" in f for f in s))),
    ("template rendering (render_template)", _has("render_template", "flask/templating.py")),
    ("url_for (Werkzeug URL building)", _has("url_for", "flask/")),
    ("logging", _file("logging/__init__.py")),
    ("CSRF token (Flask-WTF)", _file("flask_wtf/csrf.py")),
    ("JSON encode/decode", lambda s: any("/json/" in f for f in s)),
]

# The same for the API (`--profile` samples it during scenario A at concurrency 16).
API_PARTS: list[tuple[str, Callable[[Stack], bool]]] = [
    ("Flask app, whole request (wsgi_app)", IN_APP),
    ("the server's Python outside the app (Granian's glue; Gunicorn: parsing, TLS, I/O)",
     _all(in_server, _not(IN_APP))),
    ("TLS (ssl.py, anywhere)", _file("ssl.py")),
    ("bearer token validation (api/auth.py authenticate)", _has("authenticate", "api/auth.py")),
    ("listing the items (api/storage.py ToDoStore.list)", _has("list", "api/storage.py")),
    ("PyJWT (signature, claims)", _file("jwt/")),
    ("SQLAlchemy (query, ORM, pool)", _file("sqlalchemy/")),
    ("request log (api/requestlog.py)", _file("api/requestlog.py")),
    ("logging", _file("logging/__init__.py")),
    ("JSON encode/decode", lambda s: any("/json/" in f for f in s)),
]


def parse_collapsed(text: str) -> list[tuple[Stack, int]]:
    """`frame;frame;... count` lines (py-spy --format raw) → (frames root first, count)."""
    stacks = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        stacks.append((frames.split(";"), int(count)))
    return stacks


def _short(frame: str) -> str:
    """`fn (pkg/mod.py:12)` → `fn (pkg/mod.py)`: one row per function, whatever line ran.
    (py-spy already shortens file names to their path under sys.path.)"""
    name, sep, where = frame.partition(" (")
    if not sep:
        return frame
    return f"{name} ({where.rstrip(')').rsplit(':', 1)[0]})"


def summarize(
    stacks: Iterable[tuple[Stack, int]], top: int = 15,
    parts_of: list[tuple[str, Callable[[Stack], bool]]] = PARTS,
) -> dict[str, Any]:
    """Share of samples per part of the request path, top self-time and inclusive functions."""
    stacks = list(stacks)
    total = sum(n for _, n in stacks)
    if total == 0:
        return {"samples": 0, "parts": [], "top_self": [], "top_inclusive": []}
    parts = []
    for name, test in parts_of:
        n = sum(count for stack, count in stacks if test(stack))
        parts.append({"part": name, "samples": n, "percent": round(100 * n / total, 1)})
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks:
        if stack:
            self_time[_short(stack[-1])] += count
        for frame in {_short(f) for f in stack}:
            inclusive[frame] += count

    def rows(counter: Counter[str], skip: Callable[[str], bool] = lambda _: False) -> list[Any]:
        return [
            {"function": f, "samples": n, "percent": round(100 * n / total, 1)}
            for f, n in counter.most_common() if not skip(f)
        ][:top]

    plumbing = ("process ", "Thread.", "<module>", "_worker ", "_WorkItem.", "Flask.__call__",
                "Flask.wsgi_app", "Flask.full_dispatch_request", "Flask.dispatch_request")
    return {
        "samples": total,
        "parts": parts,
        "top_self": rows(self_time),
        "top_inclusive": rows(inclusive, lambda f: f.startswith(plumbing)
                              or any(marker in f for marker in SERVER_FILES)),
    }


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"samples: {summary['samples']}", "", "part of the request path         % of samples"]
    for p in summary["parts"]:
        lines.append(f"  {p['percent']:5.1f}%  {p['part']}")
    lines += ["", "top self time (leaf functions):"]
    lines += [f"  {r['percent']:5.1f}%  {r['function']}" for r in summary["top_self"]]
    lines += ["", "top inclusive (functions on the stack):"]
    lines += [f"  {r['percent']:5.1f}%  {r['function']}" for r in summary["top_inclusive"]]
    return "\n".join(lines)


class ProfileError(Exception):
    """py-spy is missing or could not sample the server."""


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise ProfileError("py-spy is not installed (pip install -r requirements-dev.txt)")
    return found


def profile_run(
    runner: Runner, label: str, pid: int, url: str, script: str,
    parts_of: list[tuple[str, Callable[[Stack], bool]]],
) -> dict[str, Any]:
    """Warm up, then 16 connections of `script` against `url` while py-spy samples the
    server's main process `pid` and its workers; files `bench-results/profile-<label>.*`."""
    args = runner.args
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_path = out_dir / f"profile-{label}.txt"
    script_dir = runner.workdir / "wrk"
    wrk.run_wrk(url, script, script_dir, connections=16, duration_s=max(args.warmup, 2))
    spy = subprocess.Popen(
        [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--gil",
         "--rate", str(SAMPLE_RATE), "--duration", str(round(args.duration)), "--format", "raw",
         "--output", str(raw_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    result, _ = wrk.run_wrk(url, script, script_dir, connections=16, duration_s=args.duration)
    spy_output, _ = spy.communicate(timeout=args.duration + 60)
    if spy.returncode != 0 or not raw_path.is_file():
        raise ProfileError(f"py-spy failed ({spy.returncode}): {spy_output.strip()}")
    summary = summarize(parse_collapsed(raw_path.read_text()), parts_of=parts_of)
    summary["load_while_profiled"] = result.to_json()
    summary["raw_profile"] = str(raw_path)
    text = format_summary(summary)
    (out_dir / f"profile-{label}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / f"profile-{label}-summary.txt").write_text(text + "\n")
    print(f"=== profile {label} ===\n{text}")
    print(f"\nunder py-spy: {result.requests_per_s:.1f} req/s, p50 {result.p50_ms:.2f} ms "
          f"(sampling costs CPU; use the unprofiled run's numbers for throughput)\n")
    return {"raw": str(raw_path), "summary": str(out_dir / f"profile-{label}-summary.txt")}
