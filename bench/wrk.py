"""Driving Debian's `wrk` from a separate process: Lua scripts per scenario, output parsing.

Each scenario gets a Lua script that rotates across the signed-in users' headers (bearer token,
session cookie, CSRF token), so every request is a different user's, as in production. The
script also counts answers whose status is not the one the scenario expects (a 302 to the
sign-in page is a success for wrk, but a failure for us) and prints them from `done()` on a
line `BENCH unexpected=<n>`, next to wrk's own `--latency` report, which `parse_wrk` reads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.settings import write_private

WRK = shutil.which("wrk") or "/usr/bin/wrk"

_UNITS_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SI = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
_LATENCY_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_REQUESTS_LINE = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_RPS_LINE = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.MULTILINE)
_SOCKET_LINE = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_NON2XX_LINE = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_UNEXPECTED_LINE = re.compile(r"^BENCH unexpected=(\d+)\s*$", re.MULTILINE)
_STATUSES_LINE = re.compile(r"^BENCH statuses=([\d:,]*)\s*$", re.MULTILINE)


class WrkError(Exception):
    """wrk did not run or printed something this parser does not understand."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and every kind of error."""

    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    socket_errors: dict[str, int]
    non_2xx_3xx: int
    unexpected_status: int
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        """Socket errors + non-2xx/3xx answers + answers with a status the scenario forbids.

        A non-2xx answer is also an unexpected one, so it is counted once (the larger count).
        """
        return sum(self.socket_errors.values()) + max(self.non_2xx_3xx, self.unexpected_status)

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "errors": self.errors}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_TO_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    """The numbers in wrk's `--latency` report (plus our script's `BENCH unexpected=` line)."""
    latencies = {pct: _ms(v, u) for pct, v, u in _LATENCY_LINE.findall(output)}
    requests = _REQUESTS_LINE.search(output)
    rps = _RPS_LINE.search(output)
    if requests is None or rps is None or set(latencies) != {"50", "75", "90", "99"}:
        raise WrkError(f"unexpected wrk output:\n{output}")
    socket = _SOCKET_LINE.search(output)
    non2xx = _NON2XX_LINE.search(output)
    unexpected = _UNEXPECTED_LINE.search(output)
    statuses = _STATUSES_LINE.search(output)
    return WrkResult(
        requests=int(requests.group(1)),
        duration_s=_ms(requests.group(2), requests.group(3)) / 1000.0,
        requests_per_s=float(rps.group(1)),
        p50_ms=latencies["50"],
        p75_ms=latencies["75"],
        p90_ms=latencies["90"],
        p99_ms=latencies["99"],
        socket_errors=dict(
            zip(("connect", "read", "write", "timeout"),
                (int(n) for n in socket.groups()) if socket else (0, 0, 0, 0), strict=True)
        ),
        non_2xx_3xx=int(non2xx.group(1)) if non2xx else 0,
        unexpected_status=int(unexpected.group(1)) if unexpected else 0,
        statuses=_statuses(statuses.group(1)) if statuses else {},
    )


def _statuses(text: str) -> dict[str, int]:
    """`200:15,302:2` → {"200": 15, "302": 2} (our script's count of answers by status)."""
    pairs = (part.split(":", 1) for part in text.split(",") if ":" in part)
    return {status: int(n) for status, n in pairs}


def lua_string(value: str) -> str:
    """`value` as a Lua string literal (headers are ASCII; anything else is escaped)."""
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= ord(ch) < 0x7F:
            out.append(ch)
        else:
            out.extend(f"\\{b}" for b in ch.encode("utf-8"))
    out.append('"')
    return "".join(out)


def _lua_headers(headers: Sequence[Mapping[str, str]]) -> str:
    rows = []
    for h in headers:
        pairs = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in h.items())
        rows.append("  {" + pairs + "},")
    return "local users = {\n" + "\n".join(rows) + "\n}\n"


_COMMON_LUA = """
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  unexpected = 0
  statuses = {}
end
local function count(status)
  statuses[status] = (statuses[status] or 0) + 1
end
local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end
function done(summary, latency, requests)
  local total = 0
  local all = {}
  for _, t in ipairs(threads) do
    total = total + t:get("unexpected")
    for status, n in pairs(t:get("statuses")) do all[status] = (all[status] or 0) + n end
  end
  io.write(string.format("BENCH unexpected=%d\\n", total))
  local parts = {}
  for status, n in pairs(all) do table.insert(parts, status .. ":" .. n) end
  table.sort(parts)
  io.write("BENCH statuses=" .. table.concat(parts, ",") .. "\\n")
end
"""


def read_script(path: str, headers: Sequence[Mapping[str, str]], expect: int = 200) -> str:
    """GET `path`, each request with the next user's headers; any status but `expect` counts."""
    return (
        _lua_headers(headers)
        + _COMMON_LUA
        + f"""
local n = #users
local i = 0
request = function()
  i = i % n + 1
  return wrk.format("GET", {lua_string(path)}, copy(users[i]))
end
response = function(status, headers, body)
  count(status)
  if status ~= {int(expect)} then unexpected = unexpected + 1 end
end
"""
    )


WRITE_MARK = "bench-write u"


def write_script(path: str, headers: Sequence[Mapping[str, str]]) -> str:
    """Add-then-delete: POST `path` as the next user; its answer's id is queued and DELETEd next.

    The description carries the user's index (`bench-write u<i>`), so the DELETE goes out with
    the headers of the user who owns the item. A POST must answer 201, a DELETE 204.
    """
    return (
        _lua_headers(headers)
        + _COMMON_LUA
        + f"""
local n = #users
local i = 0
local queue = {{}}
request = function()
  local item = table.remove(queue, 1)
  if item then
    return wrk.format("DELETE", {lua_string(path)} .. "/" .. item[1], copy(users[item[2]]))
  end
  i = i % n + 1
  local h = copy(users[i])
  h["Content-Type"] = "application/json"
  return wrk.format("POST", {lua_string(path)}, h,
    '{{"description": "{WRITE_MARK}' .. i .. '"}}')
end
response = function(status, headers, body)
  count(status)
  if status == 201 then
    local id = string.match(body, '"id"%s*:%s*(%d+)')
    local u = string.match(body, "bench%-write u(%d+)")
    if id and u then
      table.insert(queue, {{id, tonumber(u)}})
    else
      unexpected = unexpected + 1
    end
  elseif status ~= 204 then
    unexpected = unexpected + 1
  end
end
"""
    )


def run_wrk(
    url: str,
    script: str,
    script_dir: Path,
    *,
    connections: int,
    duration_s: float,
    threads: int | None = None,
    timeout_s: int = 10,
) -> tuple[WrkResult, str]:
    """Run wrk against `url` with `script` (written 0600: it holds tokens); result and output."""
    script_dir.mkdir(parents=True, exist_ok=True)
    path = script_dir / "scenario.lua"
    write_private(path, script)
    threads = threads or min(connections, 2)
    args = [
        WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s}s", "--latency", "-s", str(path), url,
    ]
    proc = subprocess.run(args, capture_output=True, text=True, check=False,
                          timeout=duration_s + timeout_s + 30)
    if proc.returncode != 0:
        raise WrkError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
    return parse_wrk(proc.stdout), proc.stdout
