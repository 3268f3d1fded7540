"""The benchmark's picture: requests/s and p99 of every load run, targets marked, and the server
models side by side (matplotlib, written next to the JSON results)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import report

# Where a target applies: the run's label in the chart -> (req/s target, p99 target in ms).
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "A16": (report.TARGET_A_RPS, None),
    "B16": (report.TARGET_B_RPS, None),
    "C16": (report.TARGET_C_RPS, report.TARGET_C_P99_MS),
}


def load_runs(results: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(label, target key, run) for every load run of the main matrix, in table order."""
    runs: list[tuple[str, str, Mapping[str, Any]]] = []
    for conc, run in sorted((results.get("api", {}).get("A") or {}).items(),
                            key=lambda kv: int(kv[0])):
        runs.append((f"A{conc}", f"A{conc}", run))
    for store, data in (results.get("stores") or {}).items():
        short = {"filesystem": "fs", "redis": "redis"}.get(store, store)
        for scenario, by_conc in (data.get("scenarios") or {}).items():
            for conc, run in sorted(by_conc.items(), key=lambda kv: int(kv[0])):
                runs.append((f"{short} {scenario}{conc}", f"{scenario}{conc}", run))
    return runs


def write_chart(results: Mapping[str, Any], path: Path) -> Path:
    """Draw the chart of `results` into `path` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    runs = load_runs(results)
    servers = results.get("servers") or {}
    panels = 3 if servers else 2
    fig, axes = plt.subplots(panels, 1, figsize=(11, 3.6 * panels))
    labels = [label for label, _key, _run in runs]
    for ax, field, unit, index in ((axes[0], "requests_per_s", "req/s (median)", 0),
                                   (axes[1], "p99_ms", "p99 ms (median)", 1)):
        values = [run.get(field) or 0 for _label, _key, run in runs]
        ax.bar(labels, values, color="#2f6fbf")
        for x, (_label, key, _run) in enumerate(runs):
            target = TARGETS.get(key, (None, None))[index]
            if target is not None:
                ax.hlines(target, x - 0.4, x + 0.4, colors="#c0392b", linewidths=2)
        ax.set_ylabel(unit)
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_title(f"make bench, {results.get('started', '')}: red marks are the targets "
                      f"(web {results.get('settings', {}).get('web_server', '')}, "
                      f"API {results.get('settings', {}).get('api_server', '')})", fontsize=10)
    if servers:
        ax = axes[2]
        names = list(servers)
        width = 0.4
        a16 = [(servers[n].get("A16") or {}).get("requests_per_s") or 0 for n in names]
        c16 = [(servers[n].get("C16") or {}).get("requests_per_s") or 0 for n in names]
        xs = range(len(names))
        ax.bar([x - width / 2 for x in xs], a16, width, label="A16 (API)", color="#2f6fbf")
        ax.bar([x + width / 2 for x in xs], c16, width, label="C16 (/todos)", color="#7fb069")
        ax.set_xticks(list(xs), names)
        ax.set_ylabel("req/s (median)")
        ax.set_title("server models", fontsize=10)
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
