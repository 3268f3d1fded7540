"""Measurements besides wrk: tenant counters, session sizes, the refresh storm."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import requests
from cachelib.file import FileSystemCache

from devtenant.admin import TenantAdmin

from .users import WebSession

SESSION_KEY_PREFIX = "todo_session:"  # app/__init__.py: SESSION_KEY_PREFIX = "<cookie name>:"
TOKENS_KEY = "token_key"  # app/identity.py: where the session names its token cache
TOKENS_PREFIX = "todo_tokens:"  # app/token_store.py: REDIS_PREFIX


def idp_counts(admin: TenantAdmin) -> dict[str, int]:
    """The tenant's counters the issue watches: discovery, key set, token (all grants)."""
    raw = admin.counts()
    token = raw.get("token") or {}
    return {
        "discovery": int(raw.get("discovery", 0)),
        "keys": int(raw.get("keys", 0)),
        "token": int(sum(token.values())),
        "refresh_token": int(token.get("refresh_token", 0)),
        "authorization_code": int(token.get("authorization_code", 0)),
    }


def count_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def session_bytes_filesystem(session_dir: Path, sessions: Sequence[WebSession]) -> dict[str, Any]:
    """Bytes on disk of each user's stored state: the session file (cachelib keeps
    `todo_session:<sid>` in a file named by a hash it computes) plus the session's token cache
    (`<instance>/tokens/<token_key>.json`, beside the sessions directory)."""
    cache = FileSystemCache(str(session_dir))
    tokens_dir = session_dir.parent / "tokens"
    sizes: list[int | None] = []
    for s in sessions:
        key = SESSION_KEY_PREFIX + s.cookie
        path = Path(cache._get_filename(key))
        data = cache.get(key)
        if not path.is_file() or not isinstance(data, dict):
            sizes.append(None)
            continue
        token_file = tokens_dir / f"{data.get(TOKENS_KEY)}.json"
        tokens = token_file.stat().st_size if token_file.is_file() else 0
        sizes.append(path.stat().st_size + tokens)
    return _size_summary(sizes, "session file + token-cache file")


def session_bytes_redis(client: Any, sessions: Sequence[WebSession]) -> dict[str, Any]:
    """Each user's stored state in Redis: STRLEN of `todo_session:<sid>` plus STRLEN of the
    session's token cache `todo_tokens:<token_key>`."""
    sizes: list[int | None] = []
    for s in sessions:
        raw = client.get(SESSION_KEY_PREFIX + s.cookie)
        if raw is None:
            sizes.append(None)
            continue
        token_key = msgspec.msgpack.decode(raw).get(TOKENS_KEY)
        sizes.append(len(raw) + int(client.strlen(f"{TOKENS_PREFIX}{token_key}")))
    return _size_summary(sizes, "STRLEN of the session + the token cache in Redis")


def _size_summary(sizes: list[int | None], what: str) -> dict[str, Any]:
    found = [s for s in sizes if s is not None]
    return {
        "what": what,
        "users": len(sizes),
        "missing": len(sizes) - len(found),
        "mean": round(statistics.fmean(found), 1) if found else None,
        "max": max(found) if found else None,
        "min": min(found) if found else None,
    }


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (pct in 0-100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def _burst(url: str, headers: Mapping[str, str], count: int) -> list[tuple[str, float]]:
    """`count` GETs of `url` released at once (a barrier), each on its own connection:
    (status or exception name, milliseconds) for each."""
    barrier = threading.Barrier(count)
    lock = threading.Lock()
    outcomes: list[tuple[str, float]] = []

    def hit(http: requests.Session) -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            resp = http.get(url, headers=dict(headers), allow_redirects=False, timeout=30)
            status = str(resp.status_code)
        except requests.RequestException as exc:
            status = type(exc).__name__
        with lock:
            outcomes.append((status, (time.perf_counter() - started) * 1000))

    clients = []
    for _ in range(count):
        http = requests.Session()
        http.trust_env = False
        clients.append(http)
    threads = [threading.Thread(target=hit, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    return outcomes


def refresh_storm(
    web_url: str, admin: TenantAdmin, sessions: Sequence[WebSession], per_user: int = 50,
    path: str = "/api/todolist",
) -> dict[str, Any]:
    """For each user in turn, `per_user` concurrent requests whose access token is due for
    refresh. The tenant's refresh-token counter before/after each user's burst gives that
    user's redemptions. Errors: any answer but 200, or no answer."""
    refreshes: list[int] = []
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    for s in sessions:
        before = idp_counts(admin)["refresh_token"]
        for status, ms in _burst(f"{web_url}{path}", s.headers(), per_user):
            latencies.append(ms)
            statuses[status] = statuses.get(status, 0) + 1
        refreshes.append(idp_counts(admin)["refresh_token"] - before)
    return {
        "users": len(sessions),
        "requests_per_user": per_user,
        "refreshes_per_user": refreshes,
        "errors": sum(n for status, n in statuses.items() if status != "200"),
        "statuses": statuses,
        "p50_ms": _round(percentile(latencies, 50)),
        "p99_ms": _round(percentile(latencies, 99)),
        "max_ms": _round(max(latencies) if latencies else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def host_cpu_jiffies() -> tuple[int, int, int]:
    """(busy, total, steal) CPU time of the whole host so far, in clock ticks (/proc/stat's
    `cpu` line: idle and iowait are not busy; steal is time the hypervisor gave to others while
    this machine wanted the CPU, counted as busy)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal = fields[7] if len(fields) > 7 else 0
    return sum(fields) - idle, sum(fields), steal


def busy_share(before: tuple[int, ...], after: tuple[int, ...], index: int = 0) -> float | None:
    """The share of the host's CPU time that was busy (index 0) or stolen (index 2) between two
    `host_cpu_jiffies()`."""
    total = after[1] - before[1]
    return round((after[index] - before[index]) / total, 3) if total > 0 else None


def predicted_rps(
    cpu_ms_per_request: Mapping[str, float | None], cores: int, connections: int
) -> float | None:
    """The throughput the measured CPU per request allows if nothing but the measured processes
    ran and nothing waited: min(cores, connections) / (the sum of their CPU time per request).
    One connection is served one request at a time: its work never uses two cores at once."""
    total = sum(v for v in cpu_ms_per_request.values() if v)
    return round(min(cores, connections) * 1000 / total, 1) if total > 0 else None


SUMMARISED = ("requests_per_s", "p50_ms", "p75_ms", "p90_ms", "p99_ms")


def summarise_rounds(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One run's numbers from its rounds: the median of each number (and of every
    `*_cpu_ms_per_request`, `busy_share`, `predicted_rps`), the errors and requests summed,
    the spread (max - min) / median of requests/s and p99, and the rounds themselves."""
    out: dict[str, Any] = {"rounds": [dict(r) for r in rounds]}
    keys = [k for k in rounds[0] if k in SUMMARISED or k.endswith("_cpu_ms_per_request")
            or k in ("busy_share", "steal_share", "predicted_rps")]
    for key in keys:
        values = [r[key] for r in rounds if r.get(key) is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    out["requests"] = sum(int(r.get("requests", 0)) for r in rounds)
    out["errors"] = sum(int(r.get("errors", 0)) for r in rounds)
    statuses: dict[str, int] = {}
    for r in rounds:
        for status, n in (r.get("statuses") or {}).items():
            statuses[status] = statuses.get(status, 0) + n
    out["statuses"] = statuses
    for key in ("requests_per_s", "p99_ms"):
        values = [r[key] for r in rounds if r.get(key) is not None]
        median = statistics.median(values) if values else 0
        out[f"{key}_spread"] = (round((max(values) - min(values)) / median, 3)
                                if median else None)
    if out.get("predicted_rps") and out.get("requests_per_s") is not None:
        out["measured_vs_predicted"] = round(out["requests_per_s"] / out["predicted_rps"], 3)
    return out
