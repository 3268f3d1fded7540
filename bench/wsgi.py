"""WSGI entry points Gunicorn loads for the benchmark: settings from the environment only.

The harness gives every setting in the environment. Reading no dotenv file means a developer's
`./.env` or `api/.env` (perhaps naming a real tenant) cannot leak into the measured system.
"""

from __future__ import annotations

from flask import Flask


def api_app() -> Flask:
    """The ToDoList API (`api.create_app`) for the settings in the environment."""
    from api import Config, create_app

    return create_app(Config.from_env(None))


def web_app() -> Flask:
    """The web app (`app.create_app`) for the settings in the environment."""
    from app import create_app
    from config import Config

    return create_app(Config.load(env_file=None))
