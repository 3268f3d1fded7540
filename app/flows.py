"""Sign-ins in progress: each auth-code flow kept for its 10 minutes, apart from the sessions.

A visitor who starts a sign-in has no session yet, and must not get one: a flood of anonymous
`GET /auth/signin` would otherwise fill the session store with long-lived entries, and a store
that prunes (cachelib's file store) would prune signed-in users first. So a flow (PKCE verifier,
nonce, return address) is stored under its `state` in a store of its own that holds at most
`capacity` flows, each for `lifetime` seconds (Redis keys with a TTL, or 0600 files); when it is
full a new sign-in is refused (`FlowStoreFull`), never anyone's session evicted. The browser is
bound to its flows by a signed cookie listing their `state`s (at most `MAX_PER_BROWSER`, newest
kept), valid as long as a flow; the answer's `state` must be in it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import redis
from flask import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from common.settings import write_private

COOKIE = "todo_signin"
MAX_PER_BROWSER = 5
STATE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,128}$")
REDIS_PREFIX = "todo_flow:"
REDIS_INDEX = "todo_flows"  # sorted set: state -> expiry, to count and bound the pending flows


class FlowStoreFull(Exception):
    """As many sign-ins as the store holds are in progress: a new one must wait."""


class FlowStore(Protocol):
    lifetime: float
    capacity: int

    def add(self, state: str, entry: dict[str, Any]) -> None:
        """Keep `entry` under `state` for `lifetime` seconds (raises `FlowStoreFull`)."""

    def take(self, state: str) -> dict[str, Any] | None:
        """The entry under `state`, removed (None when absent or expired): one use only."""

    def count(self) -> int:
        """How many flows are pending now."""


class RedisFlowStore:
    """Flows as Redis keys with a TTL; a sorted set of expiries counts and bounds them."""

    def __init__(self, client: redis.Redis, lifetime: float, capacity: int) -> None:
        self.client = client
        self.lifetime = lifetime
        self.capacity = capacity

    def add(self, state: str, entry: dict[str, Any]) -> None:
        """Claim a place in the index first (one transaction that also counts), then store the
        flow. A claim that finds the index over the capacity is withdrawn: of two concurrent
        claims for the last place both may withdraw, but the index never holds more."""
        now = time.time()
        pipe = self.client.pipeline()  # MULTI/EXEC: these three run as one
        pipe.zremrangebyscore(REDIS_INDEX, "-inf", now)
        pipe.zadd(REDIS_INDEX, {state: now + self.lifetime})
        pipe.zcard(REDIS_INDEX)
        if pipe.execute()[2] > self.capacity:
            self.client.zrem(REDIS_INDEX, state)
            raise FlowStoreFull(f"{self.capacity} sign-ins pending in Redis")
        pipe = self.client.pipeline()
        pipe.set(REDIS_PREFIX + state, json.dumps(entry), ex=int(self.lifetime))
        pipe.expire(REDIS_INDEX, int(self.lifetime))
        pipe.execute()

    def take(self, state: str) -> dict[str, Any] | None:
        pipe = self.client.pipeline()
        pipe.getdel(REDIS_PREFIX + state)
        pipe.zrem(REDIS_INDEX, state)
        raw = pipe.execute()[0]
        return _decode(raw)

    def count(self) -> int:
        self.client.zremrangebyscore(REDIS_INDEX, "-inf", time.time())
        return int(self.client.zcard(REDIS_INDEX))


class FileFlowStore:
    """Flows as files `<dir>/<state>.json` (0600); a file older than `lifetime` is expired.

    Expired files are deleted by a sweep at most every `SWEEP_SECONDS` (which also counts);
    between sweeps a new sign-in costs one directory listing to count, even when the store is
    full and refusing.
    """

    SWEEP_SECONDS = 60.0

    def __init__(self, directory: Path, lifetime: float, capacity: int) -> None:
        self.directory = directory
        self.lifetime = lifetime
        self.capacity = capacity
        self._swept = 0.0
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _sweep(self) -> int:
        """Delete expired flows; returns how many are left."""
        left = 0
        oldest = time.time() - self.lifetime
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if not entry.name.endswith(".json"):
                    continue
                try:
                    if entry.stat().st_mtime < oldest:
                        os.unlink(entry.path)
                    else:
                        left += 1
                except FileNotFoundError:
                    continue
        self._swept = time.time()
        return left

    def add(self, state: str, entry: dict[str, Any]) -> None:
        # Counting and writing under one lock keeps this process to the capacity exactly;
        # several processes sharing the directory may each add one while another counts.
        with self._lock:
            swept_long_ago = time.time() - self._swept > self.SWEEP_SECONDS
            pending = self._sweep() if swept_long_ago else self.count()
            if pending >= self.capacity:
                raise FlowStoreFull(f"{self.capacity} sign-ins pending in {self.directory}")
            write_private(self.directory / f"{state}.json", json.dumps(entry))

    def take(self, state: str) -> dict[str, Any] | None:
        if not STATE_PATTERN.match(state):
            return None
        path = self.directory / f"{state}.json"
        taken = path.with_suffix(f".taken-{os.getpid()}-{threading.get_ident()}")
        try:
            os.rename(path, taken)  # exactly one of two concurrent takers wins
        except FileNotFoundError:
            return None
        try:
            if time.time() - taken.stat().st_mtime > self.lifetime:
                return None
            return _decode(taken.read_bytes())
        finally:
            taken.unlink(missing_ok=True)

    def count(self) -> int:
        with os.scandir(self.directory) as entries:
            return sum(1 for entry in entries if entry.name.endswith(".json"))


def _decode(raw: bytes | str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


class BrowserFlows:
    """The `state`s of the sign-ins this browser started, in a signed cookie."""

    def __init__(self, secret_key: str, lifetime: float, secure: bool) -> None:
        self._signer = URLSafeTimedSerializer(secret_key, salt="sign-ins in progress")
        self.lifetime = lifetime
        self.secure = secure

    def states(self, request: Request) -> list[str]:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return []
        try:
            states = self._signer.loads(raw, max_age=int(self.lifetime))
        except BadSignature:
            return []
        if not isinstance(states, list):
            return []
        return [s for s in states if isinstance(s, str) and STATE_PATTERN.match(s)]

    def write(self, response: Response, states: list[str], https: bool) -> None:
        """Set the cookie to `states` (the newest `MAX_PER_BROWSER`), or delete it."""
        if not states:
            response.delete_cookie(COOKIE, path="/auth/")
            return
        response.set_cookie(
            COOKIE, self._signer.dumps(states[-MAX_PER_BROWSER:]), max_age=int(self.lifetime),
            path="/auth/", httponly=True, samesite="Lax", secure=self.secure or https,
        )
