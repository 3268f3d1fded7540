"""The benchmark's chart: a PNG of the runs with the targets, written next to the results."""

from __future__ import annotations

from pathlib import Path

from bench import chart
from tests.bench.test_report import results, run


def test_the_chart_is_a_png_of_every_run(tmp_path: Path) -> None:
    data = results()
    data["servers"] = {"granian 2x8": {"A16": run(6000, 1.0), "C16": run(1300, 9.0)},
                       "gunicorn 2x8": {"A16": run(3000, 2.0), "C16": run(900, 12.0)}}
    labels = [label for label, _key, _run in chart.load_runs(data)]
    assert labels == ["A1", "A16", "fs B1", "fs B16", "fs C1", "fs C16", "fs D1", "fs D16",
                      "redis B16", "redis C16"]
    picture = chart.write_chart(data, tmp_path / "latest.png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 10_000
