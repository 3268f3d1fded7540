"""Programs from Debian packages that the tests and the benchmark start (redis-server, the
PostgreSQL tools, runuser), found on PATH or in the system directories."""

from __future__ import annotations

import shutil


def program(name: str) -> str:
    """The path of the installed program `name`; RuntimeError naming the fix when missing."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise RuntimeError(f"{name} is not installed (make system-packages)")
    return path
