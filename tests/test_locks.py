"""The locks `make run` and `make test` install from agree with the ranges and with each other.

A range changed in requirements*.txt without `make lock` fails here, and so does a hand edit
that leaves a pin without its hashes (pip's --require-hashes would refuse it at install) or
gives the two locks different versions of a package they share (the .dev stamp counts as
.runtime's too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {"requirements.txt": "requirements.lock", "requirements-dev.txt": "requirements-dev.lock"}


def declared(name: str) -> dict[NormalizedName, Requirement]:
    """The requirements a requirements*.txt declares, following its `-r` includes."""
    found: dict[NormalizedName, Requirement] = {}
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            found.update(declared(line.removeprefix("-r ").strip()))
            continue
        req = Requirement(line)
        found[canonicalize_name(req.name)] = req
    return found


def pinned(name: str) -> dict[NormalizedName, tuple[str, list[str]]]:
    """Each package a lock pins: its version and the hashes given for it."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    pins: dict[NormalizedName, tuple[str, list[str]]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec, *options = line.split()
        package, version = spec.split("==")
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
        pins[canonicalize_name(package)] = (version, hashes)
    return pins


@pytest.mark.parametrize(("ranges", "lock"), LOCKS.items())
def test_every_declared_requirement_is_pinned_within_its_range(ranges, lock):
    pins = pinned(lock)
    for name, req in declared(ranges).items():
        assert name in pins, f"{lock} does not pin {req.name}: run make lock"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"{lock} pins {req.name}=={version}, outside {req.specifier}: run make lock"
        )


@pytest.mark.parametrize("lock", LOCKS.values())
def test_every_pin_carries_sha256_hashes(lock):
    for name, (_version, hashes) in pinned(lock).items():
        assert hashes, f"{name} in {lock} has no hash"
        assert all(h.startswith("sha256:") and len(h) == 71 for h in hashes), name


def test_the_runtime_and_dev_locks_pin_the_same_versions():
    runtime, dev = pinned("requirements.lock"), pinned("requirements-dev.lock")
    for name, (version, _hashes) in runtime.items():
        assert name in dev, f"requirements-dev.lock lacks {name}"
        assert dev[name][0] == version, f"{name}: {version} vs {dev[name][0]}"
