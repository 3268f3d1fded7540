"""What the file-backed stores of the web app share: a private directory of `<name>.json`
files, each with a `<name>.lock` beside it, that count as absent once older than `lifetime`
seconds and are deleted by a sweep that a write starts at most every `SWEEP_SECONDS` (the Redis
stores expire their keys by themselves).

Used by the token caches (`app/token_store.py`) and the per-user session index
(`app/user_sessions.py`).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path


class SweptDirectory:
    SWEEP_SECONDS = 300.0

    def __init__(self, directory: Path, lifetime: float) -> None:
        self.directory = directory
        self.lifetime = lifetime
        self._swept = 0.0
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def sweep_if_due(self) -> None:
        """Sweep unless the last sweep was less than `SWEEP_SECONDS` ago (a write calls this:
        writes are not each a directory scan)."""
        if time.time() - self._swept > self.SWEEP_SECONDS:
            self.sweep()

    def sweep(self) -> int:
        """Delete the files (and their lock files) older than `lifetime`; how many went."""
        self._swept = time.time()
        oldest = self._swept - self.lifetime
        gone = 0
        for path in self.directory.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < oldest:
                    path.unlink()
                    path.with_suffix(".lock").unlink(missing_ok=True)
                    gone += 1
        return gone
