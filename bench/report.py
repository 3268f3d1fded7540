"""The numbers the issue asks for, computed from the raw results, and the table printed at the end.

Everything here is pure (dicts in, dicts/text out) so that it can be tested without servers.
The results dict has this shape (the JSON file is it, plus `comparisons` and `targets`):

    {"api": {"A": {"1": <wrk>, "16": <wrk>}},
     "stores": {"filesystem": {"scenarios": {"B": {"1": <wrk>, ...}, ...},
                               "idp_steady_state": {"discovery": n, "keys": n, "token": n},
                               "session_bytes": {"mean": n, "max": n, ...},
                               "storm": {"refreshes_per_user": [...], "errors": n,
                                         "p99_ms": x, ...}}, ...}}

where <wrk> is `WrkResult.to_json()` (requests_per_s, p50_ms, p99_ms, errors, ...).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SCENARIOS = {
    "A": "API GET /api/todolist (bearer)",
    "B": "web JSON proxy GET /api/todolist",
    "C": "web /todos page",
    "D": "web add+delete via proxy",
}

# The targets (issue 8, "Targets").
TARGET_C_RPS = 1100.0
TARGET_B_RPS = 1400.0
TARGET_A_RPS = 2000.0
TARGET_C_ADDED_P50_MS = 1.5
TARGET_B_ADDED_P50_MS = 1.0
TARGET_SESSION_BYTES = 8 * 1024


@dataclass(frozen=True)
class Target:
    name: str
    store: str | None
    value: float | None
    op: str  # ">=", "<=", "=="
    limit: float
    unit: str

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        compare: Callable[[float, float], bool] = {
            ">=": operator.ge, "<=": operator.le, "==": operator.eq,
        }[self.op]
        return bool(compare(self.value, self.limit))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "store": self.store, "value": self.value, "op": self.op,
                "limit": self.limit, "unit": self.unit, "met": self.met}


def _get(results: Mapping[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def comparisons(results: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per store: throughput ratios B/A and C/A, and p50 differences B−A and C−A (ms).

    Ratios at concurrency 16 and 1 (when both runs exist); differences at concurrency 1, the
    latency a single user feels added by the web app on top of the bare API call.
    """
    out: dict[str, dict[str, float | None]] = {}
    api = _get(results, "api", "A") or {}
    for store, data in (results.get("stores") or {}).items():
        scen = data.get("scenarios") or {}
        row: dict[str, float | None] = {}
        for s in ("B", "C"):
            for conc in ("1", "16"):
                a, x = api.get(conc), (scen.get(s) or {}).get(conc)
                ratio = None
                if a and x and a["requests_per_s"] > 0:
                    ratio = round(x["requests_per_s"] / a["requests_per_s"], 3)
                row[f"{s}/A_rps_c{conc}"] = ratio
            a1, x1 = api.get("1"), (scen.get(s) or {}).get("1")
            row[f"{s}-A_p50_ms_c1"] = (
                round(x1["p50_ms"] - a1["p50_ms"], 3) if a1 and x1 else None
            )
        out[store] = row
    return out


def targets(results: Mapping[str, Any]) -> list[Target]:
    """Every target of the issue that this run measured (value None: not measured)."""
    found: list[Target] = []
    a16 = _get(results, "api", "A", "16", "requests_per_s")
    found.append(Target("A API req/s at c16 (20 items/user)", None, a16, ">=", TARGET_A_RPS,
                        "req/s"))
    comp = comparisons(results)
    for store, data in (results.get("stores") or {}).items():
        scen = data.get("scenarios") or {}
        c16 = _get(scen, "C", "16", "requests_per_s")
        b16 = _get(scen, "B", "16", "requests_per_s")
        found.append(Target("C /todos req/s at c16", store, c16, ">=", TARGET_C_RPS, "req/s"))
        found.append(Target("B proxy req/s at c16", store, b16, ">=", TARGET_B_RPS, "req/s"))
        c_added = comp[store].get("C-A_p50_ms_c1")
        b_added = comp[store].get("B-A_p50_ms_c1")
        if c_added is not None:
            found.append(Target("p50(C)-p50(A) at c1", store, c_added, "<=",
                                TARGET_C_ADDED_P50_MS, "ms"))
        if b_added is not None:
            found.append(Target("p50(B)-p50(A) at c1", store, b_added, "<=",
                                TARGET_B_ADDED_P50_MS, "ms"))
        idp = data.get("idp_steady_state") or {}
        for kind in ("discovery", "keys", "token"):
            found.append(Target(f"{kind} requests in steady state", store, idp.get(kind), "==",
                                0, "requests"))
        errors = sum(
            run.get("errors", 0) for runs in scen.values() for run in runs.values()
        )
        found.append(Target("errors in the load runs", store, errors if scen else None, "==", 0,
                            "errors"))
        storm = data.get("storm") or {}
        per_user = storm.get("refreshes_per_user")
        found.append(Target("storm: refreshes per user (max)", store,
                            max(per_user) if per_user else None, "==", 1, "refreshes"))
        found.append(Target("storm: refreshes per user (min)", store,
                            min(per_user) if per_user else None, "==", 1, "refreshes"))
        found.append(Target("storm: errors", store, storm.get("errors"), "==", 0, "errors"))
        found.append(Target("session bytes per user (max)", store,
                            _get(data, "session_bytes", "max"), "<=", TARGET_SESSION_BYTES,
                            "bytes"))
    return found


def _mark(met: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a "}[met]


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def table(results: Mapping[str, Any]) -> str:
    """The run as text: one line per load run, the comparisons, the IdP and storm numbers,
    and the targets with PASS/FAIL."""
    lines = [
        f"{'store':<11} {'scenario':<36} {'conc':>4} {'req/s':>10} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7} {'web CPU':>8} {'API CPU':>8} {'wrk CPU':>8}",
        f"{'':<11} {'':<36} {'':>4} {'':>10} {'':>8} {'':>8} {'':>7} {'ms/req':>8} "
        f"{'ms/req':>8} {'ms/req':>8}",
    ]

    def run_line(store: str, scenario: str, conc: str, run: Mapping[str, Any]) -> str:
        return (f"{store:<11} {scenario + ' ' + SCENARIOS[scenario]:<36} {conc:>4} "
                f"{_num(run['requests_per_s'], 1):>10} {_num(run['p50_ms']):>8} "
                f"{_num(run['p99_ms']):>8} {_num(run['errors']):>7} "
                f"{_num(run.get('web_cpu_ms_per_request')):>8} "
                f"{_num(run.get('api_cpu_ms_per_request')):>8} "
                f"{_num(run.get('wrk_cpu_ms_per_request')):>8}")

    for conc, run in sorted((_get(results, "api", "A") or {}).items(), key=lambda kv: int(kv[0])):
        lines.append(run_line("-", "A", conc, run))
    for store, data in (results.get("stores") or {}).items():
        for scenario, runs in (data.get("scenarios") or {}).items():
            for conc, run in sorted(runs.items(), key=lambda kv: int(kv[0])):
                lines.append(run_line(store, scenario, conc, run))
    lines.append("")
    for store, row in comparisons(results).items():
        parts = [f"{k}={_num(v, 3)}" for k, v in row.items() if v is not None]
        lines.append(f"{store}: " + ", ".join(parts))
        data = results["stores"][store]
        idp = data.get("idp_steady_state")
        if idp:
            lines.append(f"{store}: steady-state IdP requests: discovery={idp.get('discovery')} "
                         f"keys={idp.get('keys')} token={idp.get('token')}")
        sb = data.get("session_bytes")
        if sb:
            lines.append(f"{store}: session bytes per user: mean={_num(sb.get('mean'), 0)} "
                         f"max={_num(sb.get('max'))} ({sb.get('what', '')})")
        storm = data.get("storm")
        if storm:
            lines.append(
                f"{store}: refresh storm ({storm.get('users')} users x "
                f"{storm.get('requests_per_user')} concurrent): refreshes per user "
                f"{storm.get('refreshes_per_user')}, errors {storm.get('errors')}, "
                f"p99 {_num(storm.get('p99_ms'))} ms"
            )
    lines.append("")
    lines.append("targets (issue 8):")
    for t in targets(results):
        where = f" [{t.store}]" if t.store else ""
        lines.append(f"  {_mark(t.met)}  {t.name}{where}: {_num(t.value)} {t.op} "
                     f"{_num(t.limit, 1)} {t.unit}")
    return "\n".join(lines)
