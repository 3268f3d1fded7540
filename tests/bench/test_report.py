"""The harness's computations: comparisons with the bare API, targets, the table, the profile
summary and percentiles."""

from __future__ import annotations

from typing import Any

import pytest

from bench import measure, profile, report


def run(rps: float, p50: float, p99: float = 0.0, errors: int = 0) -> dict[str, Any]:
    return {"requests_per_s": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors}


def results(**store_overrides: Any) -> dict[str, Any]:
    filesystem = {
        "scenarios": {
            "B": {"1": run(500, 2.5), "16": run(1900, 10)},
            "C": {"1": run(250, 4.0), "16": run(1000, 16)},
            "D": {"1": run(300, 3.0), "16": run(600, 25, errors=2)},
        },
        "idp_steady_state": {"discovery": 0, "keys": 0, "token": 3},
        "session_bytes": {"mean": 6000.0, "max": 9000},
        "storm": {"refreshes_per_user": [1, 1, 2, 1, 1], "errors": 0, "p99_ms": 80.0,
                  "users": 5, "requests_per_user": 50},
    }
    filesystem.update(store_overrides)
    redis = {"scenarios": {"B": {"16": run(1200, 12)}, "C": {"16": run(1300, 14, p99=40.0)}}}
    return {"api": {"A": {"1": run(1000, 1.5), "16": run(6400, 6)}},
            "stores": {"filesystem": filesystem, "redis": redis}}


def test_ratios_and_added_latency() -> None:
    comp = report.comparisons(results())
    fs = comp["filesystem"]
    assert fs["B/A_rps_c16"] == pytest.approx(1900 / 6400, abs=1e-3)
    assert fs["C/A_rps_c16"] == pytest.approx(1000 / 6400, abs=1e-3)
    assert fs["B/A_rps_c1"] == pytest.approx(0.5)
    assert fs["B-A_p50_ms_c1"] == pytest.approx(1.0)
    assert fs["C-A_p50_ms_c1"] == pytest.approx(2.5)
    # The redis pass has no concurrency-1 runs: no c1 ratio, no added latency.
    assert comp["redis"]["B/A_rps_c1"] is None
    assert comp["redis"]["C-A_p50_ms_c1"] is None
    assert comp["redis"]["C/A_rps_c16"] == pytest.approx(1300 / 6400, abs=1e-3)


def by_name(targets: list[report.Target], name: str, store: str | None) -> report.Target:
    return next(t for t in targets if t.name == name and t.store == store)


def test_targets_pass_and_fail() -> None:
    targets = report.targets(results())
    assert by_name(targets, "A API req/s at c16 (20 items/user)", None).met is True
    assert by_name(targets, "B proxy req/s at c16", "filesystem").met is True
    assert by_name(targets, "C /todos req/s at c16", "filesystem").met is False
    assert by_name(targets, "C /todos req/s at c16", "redis").met is True  # 1300 >= 1300
    assert by_name(targets, "C /todos p99 at c16", "redis").met is True  # 40 <= 40
    assert by_name(targets, "C /todos p99 at c16", "filesystem").met is True
    assert by_name(targets, "B proxy req/s at c16", "redis").met is False
    assert by_name(targets, "p50(B)-p50(A) at c1", "filesystem").met is False  # 1.0 > 0.7
    assert by_name(targets, "p50(C)-p50(A) at c1", "filesystem").met is False
    assert by_name(targets, "token requests in steady state", "filesystem").met is False
    assert by_name(targets, "discovery requests in steady state", "filesystem").met is True
    assert by_name(targets, "errors in the load runs", "filesystem").value == 2
    assert by_name(targets, "storm: refreshes per user (max)", "filesystem").met is False
    assert by_name(targets, "storm: refreshes per user (min)", "filesystem").met is True
    assert by_name(targets, "session bytes per user (max)", "filesystem").met is False
    # Not measured in the redis pass: reported as such, neither met nor failed.
    assert by_name(targets, "storm: errors", "redis").met is None
    assert by_name(targets, "session bytes per user (max)", "redis").met is None


def test_table_marks_each_target() -> None:
    text = report.table(results())
    assert "filesystem  C web /todos page" in text
    assert "FAIL  C /todos req/s at c16 [filesystem]: 1,000 >= 1,300.0 req/s" in text
    assert "PASS  A API req/s at c16 (20 items/user): 6,400 >= 6,000.0 req/s" in text
    assert "n/a   storm: errors [redis]" in text
    assert "refreshes per user [1, 1, 2, 1, 1]" in text


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert measure.percentile(values, 50) == 50
    assert measure.percentile(values, 99) == 99
    assert measure.percentile([7.0], 99) == 7.0
    assert measure.percentile([], 50) is None


COLLAPSED = """\
process 10:"python -m gunicorn --bind 127.0.0.1:1 bench.wsgi:web_app()";run (gunicorn/workers/gthread.py:200) 5
process 10:"gunicorn: worker";Thread.run (threading.py:982);Flask.wsgi_app (flask/app.py:1511);FileSystemSessionInterface.open_session (flask_session/base.py:340) 2
process 10:"gunicorn: worker";Thread.run (threading.py:982);Flask.wsgi_app (flask/app.py:1511);index (app/todos.py:240);call (app/api_client.py:305);Session.send (requests/sessions.py:784) 4
process 10:"gunicorn: worker";Thread.run (threading.py:982);Flask.wsgi_app (flask/app.py:1511);index (app/todos.py:244);render_template (flask/templating.py:151);Environment.getattr (jinja2/environment.py:490) 8
process 10:"gunicorn: worker";Thread.run (threading.py:982);Flask.wsgi_app (flask/app.py:1511);index (app/todos.py:240);ConfidentialClientApplication.__init__ (msal/application.py:300) 1
process 11:"python -m common.serve bench.wsgi:web_app";Thread.run (threading.py:982);BufferedWSGI.environ (common/buffering.py:160) 5
"""  # noqa: E501


def test_profile_summary_by_part() -> None:
    summary = profile.summarize(profile.parse_collapsed(COLLAPSED))
    assert summary["samples"] == 25
    parts = {p["part"]: p["percent"] for p in summary["parts"]}
    assert parts["Flask app, whole request (wsgi_app)"] == 60.0
    # Gunicorn's own loop and the product's front (common/buffering.py) outside the app.
    assert parts["the server's Python outside the app (Granian's glue; Gunicorn: parsing, "
                 "I/O, loop)"] == 40.0
    assert parts["template rendering (render_template)"] == 32.0
    assert parts["HTTPS call to the API (requests/urllib3/ssl under app/api_client.py)"] == 16.0
    assert parts["session load (Flask-Session open_session)"] == 8.0
    assert parts["MSAL app construction (ConfidentialClientApplication.__init__)"] == 4.0
    assert parts["logging"] == 0.0
    assert summary["top_self"][0] == {
        "function": "Environment.getattr (jinja2/environment.py)", "samples": 8, "percent": 32.0
    }
    # One row per function, whatever line: index() at lines 240 and 244 is 13 samples.
    inclusive = {r["function"]: r["samples"] for r in summary["top_inclusive"]}
    assert inclusive["index (app/todos.py)"] == 13
    assert profile.format_summary(summary).startswith("samples: 25")


def rounds_of(*rps: float, cpu: float = 1.0) -> list[dict[str, Any]]:
    return [{**run(r, 2.0, p99=10.0 + i), "requests": int(r * 10), "statuses": {"200": int(r)},
             "web_cpu_ms_per_request": cpu, "busy_share": 0.9, "steal_share": 0.25,
             "predicted_rps": 2000.0}
            for i, r in enumerate(rps)]


def test_rounds_are_summarised_by_their_median_and_spread() -> None:
    summary = measure.summarise_rounds(rounds_of(1000, 1200, 900))
    assert summary["requests_per_s"] == 1000
    assert summary["p99_ms"] == 11.0
    assert summary["requests_per_s_spread"] == pytest.approx(0.3)
    assert summary["p99_ms_spread"] == pytest.approx(2 / 11, abs=1e-3)
    assert summary["requests"] == 31000
    assert summary["statuses"] == {"200": 3100}
    assert summary["measured_vs_predicted"] == 0.5
    assert len(summary["rounds"]) == 3


def test_the_predicted_throughput_is_the_cores_over_the_cpu_per_request() -> None:
    cpu = {"web": 0.9, "api": 0.3, "wrk": 0.05, "idle": None}
    assert measure.predicted_rps(cpu, 2, 16) == pytest.approx(2000 / 1.25, abs=0.1)
    assert measure.predicted_rps(cpu, 2, 1) == pytest.approx(1000 / 1.25, abs=0.1)
    assert measure.predicted_rps({"web": None}, 2, 16) is None
    assert measure.busy_share((100, 1000, 0), (250, 1200, 50)) == 0.75
    assert measure.busy_share((100, 1000, 0), (250, 1200, 50), index=2) == 0.25
    busy, total, steal = measure.host_cpu_jiffies()
    assert 0 <= steal <= busy <= total


def test_runs_slower_than_their_cpu_predicts_are_named() -> None:
    data = results()
    data["stores"]["filesystem"]["scenarios"]["C"]["16"] = measure.summarise_rounds(
        rounds_of(1000, 1000, 1000))
    assert report.serialised(data) == [
        "filesystem C16: 50% of the predicted 2,000 req/s (host CPU busy 90%, stolen by the "
        "hypervisor 25%)"]
    assert "filesystem C16: 50% of the predicted" in report.table(data)


def test_the_server_models_are_tabled_side_by_side() -> None:
    data = results()
    data["servers"] = {"granian 2x8": {"A16": run(6000, 1.0, p99=3.0),
                                       "C16": run(1300, 9.0, p99=30.0)}}
    lines = report.server_table(data)
    assert lines[1].startswith("granian 2x8")
    assert "6,000 " in lines[1]
    assert "1,300 " in lines[1]
