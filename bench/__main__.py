"""`python -m bench`: the benchmark of issues 8 and 13 (docs/bench.md: what it runs and means)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.process import ROOT, ServerProcess, StartError
from common.serve import DEFAULT_THREADS
from devtenant.admin import TenantAdmin

from . import chart, measure, report, users, wrk
from .profile import ProfileError
from .system import (
    KINDS,
    Api,
    ServerModel,
    cpu_seconds,
    start_api,
    start_redis,
    start_tenant,
    start_web,
)

DEFAULT_OUT = ROOT / "bench-results" / "latest.json"
STORES = ("filesystem", "redis")
STORM_USERS = 5
STORM_REQUESTS = 50
SHORT_LIFETIME = 60  # s: below MSAL's 5-minute margin, so the token counts as due for refresh
NORMAL_LIFETIME = 3600
# The product's serving default (common/serve.py), chosen by the comparison below.
DEFAULT_WEB_SERVER = f"granian:{DEFAULT_THREADS['app']}"
DEFAULT_API_SERVER = f"granian:{DEFAULT_THREADS['api']}"
COMPARE_MODELS = ["gunicorn:2", "gunicorn:8", "granian-wsgi:2", "granian-wsgi:4", "granian:2",
                  "granian:4", "granian:8"]
COMPARE_RUNS = [("A", 16), ("C", 16)]
FULL_MATRIX = [("B", 1), ("B", 16), ("C", 1), ("C", 16), ("D", 1), ("D", 16)]
SHORT_MATRIX = [("B", 16), ("C", 16)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cpus = os.cpu_count() or 2
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Start the local system under Gunicorn, sign users in, load it with wrk, "
        "and compare with issue 13's targets.",
    )
    p.add_argument("--duration", type=float, default=5.0,
                   help="seconds measured per round of a load run (default 5; 3 rounds)")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of load before each measured run (default 2)")
    p.add_argument("--users", type=int, default=20, help="signed-in users K (default 20)")
    p.add_argument("--items", type=int, default=20, help="to-do items per user (default 20)")
    p.add_argument("--stores", default=",".join(STORES),
                   help="session stores in turn (default filesystem,redis)")
    p.add_argument("--full", action="store_true",
                   help="the full B/C/D matrix for every store (default: the first store only; "
                   "the others run B and C at concurrency 16)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 2 s per run, 1 s warm-up (numbers are rough)")
    p.add_argument("--profile", action="store_true",
                   help="instead of the matrix: scenario C at concurrency 16 on the file-system "
                   "store with the web app's workers under py-spy, then scenario A at 16 with "
                   "the API's; profiles in bench-results/")
    p.add_argument("--workers", type=int, default=cpus,
                   help=f"processes of each server (default {cpus}, one per core)")
    p.add_argument("--web-server", default=DEFAULT_WEB_SERVER, metavar="KIND:THREADS",
                   help=f"how the web app is served in the main matrix: granian, granian-wsgi "
                   f"or gunicorn (gthread), with that many Python threads per process "
                   f"(default {DEFAULT_WEB_SERVER}: the product's default)")
    p.add_argument("--api-server", default=DEFAULT_API_SERVER, metavar="KIND:THREADS",
                   help=f"the same for the API (default {DEFAULT_API_SERVER})")
    p.add_argument("--compare", default=",".join(COMPARE_MODELS), metavar="MODELS",
                   help="server models compared on A16 and C16 after the main matrix "
                   f"(default {','.join(COMPARE_MODELS)}; 'none' to skip)")
    p.add_argument("--rounds", type=int, default=3,
                   help="measured rounds of every load run (default 3): medians and spread")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    p.add_argument("--only", default=None, metavar="RUNS",
                   help="only these load runs, e.g. A16,C16 (scenario letter + concurrency), "
                   "for quicker before/after comparisons; no refresh storm")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 2.0, 1.0, 1
        args.compare = "none"
    try:
        args.web_model = ServerModel.parse(args.web_server, args.workers)
        args.api_model = ServerModel.parse(args.api_server, args.workers)
        args.compare_models = [] if args.compare.strip() == "none" else [
            ServerModel.parse(m.strip(), args.workers) for m in args.compare.split(",")
        ]
    except ValueError as exc:
        p.error(f"a server model is KIND:THREADS with KIND one of {', '.join(KINDS)}, not {exc}")
    if args.rounds < 1:
        p.error("--rounds takes a number of 1 or more")
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = [s for s in args.stores if s not in STORES]
    if unknown or not args.stores:
        p.error(f"--stores takes filesystem and/or redis, not {','.join(unknown) or 'nothing'}")
    if args.profile:
        args.stores = ["filesystem"]
        args.compare_models = []
    if args.only is not None:
        runs = {r.strip().upper() for r in args.only.split(",") if r.strip()}
        bad = sorted(r for r in runs if r[:1] not in "ABCD" or r[1:] not in ("1", "16"))
        if bad or not runs:
            p.error(f"--only takes runs like A1,B16,C16,D1, not {','.join(bad) or 'nothing'}")
        args.only = runs
        if args.compare == ",".join(COMPARE_MODELS):  # not asked for: a quick comparison run
            args.compare_models = []
    return args


def selected(args: argparse.Namespace, name: str, conc: int) -> bool:
    """Whether the load run `name` at `conc` is to be run (`--only`)."""
    return args.only is None or f"{name}{conc}" in args.only


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk.WRK,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _children_cpu_seconds() -> float:
    """CPU time of this process's finished children (getrusage RUSAGE_CHILDREN)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Runner:
    """One benchmark run: the servers it started, the users, the results."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.processes: list[ServerProcess] = []
        self.measured: dict[str, ServerProcess] = {}  # whose CPU time is measured: "api", "web"
        self.results: dict[str, Any] = {"api": {}, "stores": {}, "servers": {}}
        self.sessions: list[users.WebSession] = []

    # --- load runs ---------------------------------------------------------------------------

    def load(
        self, label: str, url: str, script: str, connections: int, counts: dict[str, int],
    ) -> dict[str, Any]:
        """Warm-up run, then `--rounds` measured runs: their medians and spread; tenant
        counters around the measured runs only."""
        script_dir = self.workdir / "wrk"
        if self.args.warmup > 0:
            wrk.run_wrk(url, script, script_dir, connections=connections,
                        duration_s=self.args.warmup)
        rounds = []
        for i in range(self.args.rounds):
            before = measure.idp_counts(self.admin)
            run = self.measured_run(f"{label}-{i + 1}", url, script, connections)
            measure.add_counts(counts, measure.count_delta(before, measure.idp_counts(self.admin)))
            rounds.append(run)
        return measure.summarise_rounds(rounds)

    def measured_run(self, label: str, url: str, script: str, connections: int) -> dict[str, Any]:
        """One measured wrk run with the CPU time of every measured process and the host's."""
        cpu_before = {name: cpu_seconds(p) for name, p in self.measured.items()}
        cpu_before["wrk"] = _children_cpu_seconds()
        host_before = measure.host_cpu_jiffies()
        result, output = wrk.run_wrk(url, script, self.workdir / "wrk", connections=connections,
                                     duration_s=self.args.duration)
        host_after = measure.host_cpu_jiffies()
        cpu = {name: cpu_seconds(p) - cpu_before[name] for name, p in self.measured.items()}
        # wrk is the only child process that ends during the measured run.
        cpu["wrk"] = _children_cpu_seconds() - cpu_before["wrk"]
        (self.workdir / "wrk-outputs").mkdir(exist_ok=True)
        (self.workdir / "wrk-outputs" / f"{label}.txt").write_text(output)
        run = result.to_json()
        # CPU time each server used per request during the measured run: unlike req/s, it
        # does not depend on how much of the machine other processes took meanwhile.
        per_request = {
            name: round(1000 * seconds / result.requests, 3) if result.requests else None
            for name, seconds in cpu.items()
        }
        for name, value in per_request.items():
            run[f"{name}_cpu_ms_per_request"] = value
        run["busy_share"] = measure.busy_share(host_before, host_after)
        run["steal_share"] = measure.busy_share(host_before, host_after, index=2)
        run["predicted_rps"] = measure.predicted_rps(per_request, os.cpu_count() or 1,
                                                     connections)
        return run

    def scenario(
        self, name: str, conc: int, web_url: str | None, sessions: list[users.WebSession],
        counts: dict[str, int], api: Api | None = None,
    ) -> dict[str, Any]:
        if name == "A":
            headers = [{"Authorization": f"Bearer {u.bearer}"} for u in self.load_users]
            url = (api or self.api).url.replace("localhost", "127.0.0.1")
            script = wrk.read_script("/api/todolist", headers)
        elif name == "B":
            url, script = web_url, wrk.read_script("/api/todolist", [s.headers() for s in sessions])
        elif name == "C":
            url, script = web_url, wrk.read_script("/todos", [s.headers() for s in sessions])
        else:
            url = web_url
            script = wrk.write_script("/api/todolist", [s.headers(write=True) for s in sessions])
        assert url is not None
        log(f"scenario {name} at concurrency {conc}: {self.args.warmup:g}s warm-up + "
            f"{self.args.duration:g}s")
        run = self.load(f"{name}{conc}", url, script, conc, counts)
        log(f"  {run['requests_per_s']:.1f} req/s (spread {run['requests_per_s_spread']}), "
            f"p50 {run['p50_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms, errors {run['errors']}, "
            f"CPU busy {run['busy_share']} (stolen {run['steal_share']}), "
            f"predicted {run['predicted_rps']} req/s"
            + (f" (answers by status: {run['statuses']})" if run["errors"] else ""))
        return run

    # --- the run -----------------------------------------------------------------------------

    def start_shared(self) -> None:
        log(f"work directory {self.workdir}")
        self.tenant = start_tenant(self.workdir)
        self.processes.append(self.tenant.process)
        self.admin = TenantAdmin(self.tenant.https_url, self.tenant.data_dir)
        self.api = start_api(self.tenant, self.workdir, self.args.api_model)
        self.processes.append(self.api.process)
        self.measured["api"] = self.api.process
        self.redis = None
        if "redis" in self.args.stores:
            self.redis = start_redis(self.workdir)
            self.processes.append(self.redis.process)
        log(f"tenant {self.tenant.https_url}, API {self.api.url}"
            + (f", Redis {self.redis.url}" if self.redis else ""))
        self.load_users = users.create_users(self.admin, self.args.users)
        self.storm_users = users.create_users(self.admin, STORM_USERS, self.args.users)
        self.web_settings = self.tenant.env("web")

    def sign_in_all(self, web_url: str) -> tuple[list[users.WebSession], list[users.WebSession]]:
        tenant = self.tenant
        log(f"signing in {len(self.load_users)} users through {web_url}/auth/signin")
        sessions = users.parallel(
            lambda u: users.sign_in(web_url, tenant.ca_file, u),
            self.load_users,
        )
        users.parallel(users.warm_session, sessions)
        # The storm's users sign in while access tokens live 60 s: MSAL treats a token that
        # expires within 5 minutes as due for refresh, so every request of theirs finds it
        # expired; tokens issued from the storm on live an hour again.
        self.admin.set_lifetimes(access_token=SHORT_LIFETIME)
        try:
            storm = users.parallel(
                lambda u: users.sign_in(web_url, tenant.ca_file, u),
                self.storm_users,
            )
        finally:
            self.admin.set_lifetimes(access_token=NORMAL_LIFETIME)
        return sessions, storm

    def prepare_api(self, web_url: str, sessions: list[users.WebSession]) -> None:
        log("bearer tokens for scenario A (MSAL auth-code flow with the web app's registration)")
        users.bearer_tokens(sessions, self.web_settings, f"{web_url}/auth/redirect",
                            self.tenant.ca_file)
        log(f"{self.args.items} items per user")
        users.seed_items(self.api.todolist_url, self.tenant.ca_file, self.load_users,
                         self.args.items)

    def run_store(self, store: str, first: bool) -> None:
        web = start_web(
            self.tenant, self.api, self.workdir, store, self.args.web_model,
            redis_url=self.redis.url if self.redis else None,
        )
        self.processes.append(web.process)
        self.measured["web"] = web.process
        web_url = f"http://127.0.0.1:{web.port}"
        try:
            sessions, storm_sessions = self.sign_in_all(web.url)
            if first:
                self.prepare_api(web.url, sessions)
            data: dict[str, Any] = {"web_url": web.url, "scenarios": {}}
            if store == "filesystem":
                data["session_bytes"] = measure.session_bytes_filesystem(web.session_dir,
                                                                         sessions)
            else:
                assert self.redis is not None
                data["session_bytes"] = measure.session_bytes_redis(self.redis.client(),
                                                                    sessions)
            if self.args.profile:
                from .profile import API_PARTS, PARTS, profile_run

                page = wrk.read_script("/todos", [s.headers() for s in sessions])
                data["profile"] = profile_run(self, "C16", web.process.pid, web_url, page, PARTS)
                bearer = [{"Authorization": f"Bearer {u.bearer}"} for u in self.load_users]
                self.results["api"]["profile"] = profile_run(
                    self, "A16", self.api.process.pid,
                    self.api.url.replace("localhost", "127.0.0.1"),
                    wrk.read_script("/api/todolist", bearer), API_PARTS,
                )
                self.results["stores"][store] = data
                return
            if first:
                api_counts: dict[str, int] = {}
                self.results["api"]["A"] = {
                    str(c): self.scenario("A", c, None, sessions, api_counts)
                    for c in (1, 16) if selected(self.args, "A", c)
                }
                self.results["api"]["idp_steady_state"] = api_counts
            counts: dict[str, int] = {}
            matrix = FULL_MATRIX if first or self.args.full else SHORT_MATRIX
            matrix = [(n, c) for n, c in matrix if selected(self.args, n, c)]
            for name, conc in matrix:
                run = self.scenario(name, conc, web_url, sessions, counts)
                data["scenarios"].setdefault(name, {})[str(conc)] = run
            data["idp_steady_state"] = counts
            if any(name == "D" for name, _ in matrix):
                data["write_leftovers_removed"] = users.remove_write_leftovers(
                    self.api.todolist_url, self.tenant.ca_file, self.load_users,
                    wrk.WRITE_MARK)
            if self.args.only is None:
                log(f"refresh storm: {STORM_USERS} users x {STORM_REQUESTS} concurrent "
                    "requests")
                data["storm"] = measure.refresh_storm(web.url, self.admin, storm_sessions,
                                                      STORM_REQUESTS)
            self.results["stores"][store] = data
            if first:
                self.sessions = sessions
        finally:
            web.process.stop()
            self.processes.remove(web.process)

    def compare_servers(self) -> None:
        """A16 and C16 (file-system store) under each server model of `--compare`: the API and
        the web app started anew as the model says, the same users, sessions and items."""
        for model in self.args.compare_models:
            log(f"server model {model.label}")
            api = start_api(self.tenant, self.workdir, model)
            self.processes.append(api.process)
            web = None
            try:
                web = start_web(self.tenant, api, self.workdir, "filesystem", model)
                self.processes.append(web.process)
                self.measured = {"api": api.process, "web": web.process}
                runs: dict[str, Any] = {}
                counts: dict[str, int] = {}
                for name, conc in COMPARE_RUNS:
                    runs[f"{name}{conc}"] = self.scenario(
                        name, conc, f"http://127.0.0.1:{web.port}", self.sessions, counts, api)
                runs["idp_steady_state"] = counts
                self.results["servers"][model.label] = runs
            finally:
                for process in (web.process if web else None, api.process):
                    if process is not None:
                        process.stop()
                        self.processes.remove(process)

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.results["started"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.results["machine"] = machine()
        self.results["settings"] = {
            "duration_s": self.args.duration, "warmup_s": self.args.warmup,
            "users": self.args.users, "items_per_user": self.args.items,
            "stores": self.args.stores, "full": self.args.full, "profile": self.args.profile,
            "web_server": self.args.web_model.label, "api_server": self.args.api_model.label,
            "rounds": self.args.rounds,
            "compared": [m.label for m in self.args.compare_models],
            "storm_users": STORM_USERS, "storm_requests_per_user": STORM_REQUESTS,
            "only": sorted(self.args.only) if self.args.only else None,
        }
        self.start_shared()
        for i, store in enumerate(self.args.stores):
            self.run_store(store, first=i == 0)
        if self.args.compare_models and "filesystem" in self.args.stores:
            self.compare_servers()
        self.results["elapsed_s"] = round(time.monotonic() - started, 1)
        self.results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        self.results["comparisons"] = report.comparisons(self.results)
        self.results["targets"] = [t.to_json() for t in report.targets(self.results)]
        return self.results

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    runner = Runner(args, workdir)
    ok = False
    try:
        results = runner.run()
        ok = True
    except (StartError, users.SignInError, wrk.WrkError, ProfileError,
            subprocess.SubprocessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        runner.stop()
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"bench: logs kept in {workdir / 'logs'}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    if not args.profile:
        print(report.table(results))
        picture = chart.write_chart(results, args.out.with_suffix(".png"))
        print(f"chart: {picture}")
    print(f"\nresults: {args.out} ({results['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
