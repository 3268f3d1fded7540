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

# The targets of issue 13 ("Targets"); the anchor is the Express sample on the same machine.
TARGET_C_RPS = 1300.0
TARGET_C_P99_MS = 40.0
TARGET_B_RPS = 1800.0
TARGET_A_RPS = 6000.0
TARGET_C_ADDED_P50_MS = 1.0
TARGET_B_ADDED_P50_MS = 0.7
TARGET_API_CPU_MS = 0.3
TARGET_WEB_CPU_MS = 0.9
TARGET_SPREAD = 0.10
TARGET_SESSION_BYTES = 8 * 1024
# Below this share of the throughput the CPU per request predicts, something serialises.
PREDICTED_SHARE = 0.85


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
    found.append(Target("A API CPU per request at c16", None,
                        _get(results, "api", "A", "16", "api_cpu_ms_per_request"), "<=",
                        TARGET_API_CPU_MS, "ms"))
    found.append(Target("A spread of req/s at c16", None,
                        _get(results, "api", "A", "16", "requests_per_s_spread"), "<=",
                        TARGET_SPREAD, ""))
    comp = comparisons(results)
    for store, data in (results.get("stores") or {}).items():
        scen = data.get("scenarios") or {}
        c16 = _get(scen, "C", "16", "requests_per_s")
        b16 = _get(scen, "B", "16", "requests_per_s")
        found.append(Target("C /todos req/s at c16", store, c16, ">=", TARGET_C_RPS, "req/s"))
        found.append(Target("C /todos p99 at c16", store, _get(scen, "C", "16", "p99_ms"), "<=",
                            TARGET_C_P99_MS, "ms"))
        found.append(Target("web CPU per page (C16)", store,
                            _get(scen, "C", "16", "web_cpu_ms_per_request"), "<=",
                            TARGET_WEB_CPU_MS, "ms"))
        found.append(Target("B proxy req/s at c16", store, b16, ">=", TARGET_B_RPS, "req/s"))
        for name, runs in scen.items():
            spread = _get(runs, "16", "requests_per_s_spread")
            if spread is not None:
                found.append(Target(f"{name} spread of req/s at c16", store, spread, "<=",
                                    TARGET_SPREAD, ""))
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


def _share(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def run_line(where: str, scenario: str, conc: str, run: Mapping[str, Any]) -> str:
    """One load run: medians of its rounds, the spread of req/s, the CPU per request, the
    host's busy and stolen shares and the share of the predicted throughput that was measured."""
    return (f"{where:<11} {scenario + ' ' + SCENARIOS[scenario]:<36} {conc:>4} "
            f"{_num(run['requests_per_s'], 1):>9} {_share(run.get('requests_per_s_spread')):>6} "
            f"{_num(run['p50_ms']):>7} {_num(run['p99_ms']):>7} {_num(run['errors']):>6} "
            f"{_num(run.get('web_cpu_ms_per_request')):>7} "
            f"{_num(run.get('api_cpu_ms_per_request')):>7} "
            f"{_num(run.get('wrk_cpu_ms_per_request')):>7} "
            f"{_share(run.get('busy_share')):>5} {_share(run.get('steal_share')):>6} "
            f"{_num(run.get('predicted_rps'), 0):>9} "
            f"{_share(run.get('measured_vs_predicted')):>5}")


HEADER = [
    f"{'store':<11} {'scenario':<36} {'conc':>4} {'req/s':>9} {'spread':>6} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'errors':>6} {'web CPU':>7} {'API CPU':>7} {'wrk CPU':>7} {'busy':>5} "
    f"{'stolen':>6} {'predicted':>9} {'meas':>5}",
    f"{'':<11} {'':<36} {'':>4} {'median':>9} {'':>6} {'':>7} {'':>7} {'':>6} {'ms/req':>7} "
    f"{'ms/req':>7} {'ms/req':>7} {'host':>5} {'host':>6} {'req/s':>9} {'/pred':>5}",
]


def serialised(results: Mapping[str, Any]) -> list[str]:
    """The load runs measured below PREDICTED_SHARE of what their CPU per request predicts."""
    found = []
    for label, run in _all_runs(results):
        share = run.get("measured_vs_predicted")
        if share is not None and share < PREDICTED_SHARE:
            found.append(f"{label}: {_share(share)} of the predicted "
                         f"{_num(run.get('predicted_rps'), 0)} req/s "
                         f"(host CPU busy {_share(run.get('busy_share'))}, "
                         f"stolen by the hypervisor {_share(run.get('steal_share'))})")
    return found


def _all_runs(results: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    runs: list[tuple[str, Mapping[str, Any]]] = [
        (f"A{conc}", run) for conc, run in (_get(results, "api", "A") or {}).items()
    ]
    for store, data in (results.get("stores") or {}).items():
        for scenario, by_conc in (data.get("scenarios") or {}).items():
            runs += [(f"{store} {scenario}{conc}", run) for conc, run in by_conc.items()]
    for model, by_run in (results.get("servers") or {}).items():
        runs += [(f"{model} {name}", run) for name, run in by_run.items()
                 if name != "idp_steady_state"]
    return runs


def server_table(results: Mapping[str, Any]) -> list[str]:
    """The server models side by side: req/s, its spread and p99 for A16 and C16, and the
    CPU per request of the server measured."""
    servers = results.get("servers") or {}
    if not servers:
        return []
    lines = [f"{'server model':<16} {'A16 req/s':>10} {'spread':>6} {'p99 ms':>7} "
             f"{'API CPU':>7} {'C16 req/s':>10} {'spread':>6} {'p99 ms':>7} {'web CPU':>7}"]
    for model, runs in servers.items():
        a, c = runs.get("A16") or {}, runs.get("C16") or {}
        lines.append(
            f"{model:<16} {_num(a.get('requests_per_s'), 1):>10} "
            f"{_share(a.get('requests_per_s_spread')):>6} {_num(a.get('p99_ms')):>7} "
            f"{_num(a.get('api_cpu_ms_per_request')):>7} {_num(c.get('requests_per_s'), 1):>10} "
            f"{_share(c.get('requests_per_s_spread')):>6} {_num(c.get('p99_ms')):>7} "
            f"{_num(c.get('web_cpu_ms_per_request')):>7}")
    return lines


def table(results: Mapping[str, Any]) -> str:
    """The run as text: one line per load run (medians of its rounds), the server comparison,
    the runs slower than their CPU predicts, the comparisons, the IdP and storm numbers, and
    the targets with PASS/FAIL."""
    lines = list(HEADER)
    for conc, run in sorted((_get(results, "api", "A") or {}).items(), key=lambda kv: int(kv[0])):
        lines.append(run_line("-", "A", conc, run))
    for store, data in (results.get("stores") or {}).items():
        for scenario, runs in (data.get("scenarios") or {}).items():
            for conc, run in sorted(runs.items(), key=lambda kv: int(kv[0])):
                lines.append(run_line(store, scenario, conc, run))
    lines.append("")
    compared = server_table(results)
    if compared:
        lines += ["server models (file-system store):", *compared, ""]
    slow = serialised(results)
    lines.append(f"runs below {_share(PREDICTED_SHARE)} of the throughput their CPU predicts: "
                 + ("none" if not slow else ""))
    lines += [f"  {line}" for line in slow]
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
    lines.append("targets (issue 13):")
    for t in targets(results):
        where = f" [{t.store}]" if t.store else ""
        lines.append(f"  {_mark(t.met)}  {t.name}{where}: {_num(t.value)} {t.op} "
                     f"{_num(t.limit, 1)} {t.unit}")
    return "\n".join(lines)
