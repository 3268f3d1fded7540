"""`GET /healthz`: no token; 200 when the process and its database answer, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from .errors import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz", strict_slashes=False)
def healthz() -> Response:
    try:
        current_app.extensions["todolist.store"].ping()
    except SQLAlchemyError as exc:
        current_app.logger.error("health check: database error %s", type(exc).__name__)
        return problem(503, "The to-do store does not answer.", {"Retry-After": "5"})
    return jsonify(status="ok")
