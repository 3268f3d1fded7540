"""The pages blueprint: the home page and the signed-in user's ID-token claims."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, render_template

from app.auth import login_required
from app.identity import current_identity

bp = Blueprint("pages", __name__)

TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time"})


def _display(name: str, value: Any) -> str:
    if name in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, tz=UTC)
        return f"{value} ({moment:%Y-%m-%d %H:%M:%S} UTC)"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/users/id")
@login_required
def claims() -> str:
    user = current_identity().user() or {}
    rows = [(name, _display(name, value)) for name, value in sorted(user.items())]
    return render_template("claims.html", rows=rows)
