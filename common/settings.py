"""Reading settings from the environment and a dotenv file, reporting every problem at once."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

T = TypeVar("T")


class SettingsError(Exception):
    """Raised at start-up with one message that names every missing or invalid setting."""

    def __init__(self, component: str, problems: list[str]) -> None:
        self.component = component
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{component} cannot start; fix these settings:\n{lines}")


def load_env(env_file: str | os.PathLike[str] | None) -> dict[str, str]:
    """The dotenv file's values overlaid by the process environment (the environment wins)."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return len(value) == 36


class SettingsReader:
    """Collects settings and their problems; `finish()` raises one `SettingsError` for all."""

    def __init__(self, component: str, source: Mapping[str, Any]) -> None:
        self.component = component
        self.source = source
        self.problems: list[str] = []

    def get(
        self,
        name: str,
        *,
        required: bool = False,
        default: T | None = None,
        parse: Callable[[str], T] | None = None,
        check: Callable[[Any], bool] | None = None,
        expect: str = "a valid value",
    ) -> Any:
        raw = self.source.get(name)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if required:
                self.problems.append(f"{name} is missing")
            return default
        value: Any = raw.strip() if isinstance(raw, str) else raw
        if parse is not None and isinstance(value, str):
            try:
                value = parse(value)
            except (ValueError, TypeError):
                self.problems.append(f"{name} must be {expect}")
                return default
        if check is not None and not check(value):
            self.problems.append(f"{name} must be {expect}")
            return default
        return value

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def finish(self) -> None:
        if self.problems:
            raise SettingsError(self.component, self.problems)


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)
