"""Fixtures of the daemon's tests: an API of their own, settings, and an empty env file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.tokens import Tokens
from tests.fixtures.api import ApiServer


@pytest.fixture(scope="session")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Given as --env-file so that no test reads the developer's daemon/.env."""
    path = tmp_path_factory.mktemp("daemon-env") / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="session")
def daemon_api(api_server_factory: Callable[..., ApiServer]) -> ApiServer:
    """An API (own SQLite database, no demo seed) that only the daemon's tests use."""
    return api_server_factory()


@pytest.fixture(scope="session")
def user_tokens(tenant) -> Iterator[Tokens]:
    """Real user tokens: MSAL's auth-code flow through the tenant's sign-in form."""
    made = Tokens(tenant)
    yield made
    made.http.close()


@pytest.fixture
def settings_for(tenant, daemon_api: ApiServer) -> Callable[..., dict[str, str]]:
    """`settings_for(credential)`: what `python -m devtenant env daemon --credential <c>`
    prints, with API_ENDPOINT pointing at the daemon tests' API."""

    def make(credential: str = "secret") -> dict[str, str]:
        return {**tenant.env("daemon", credential), "API_ENDPOINT": daemon_api.todolist_url}

    return make
