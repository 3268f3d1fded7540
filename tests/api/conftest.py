"""Fixtures of the API's tests: tokens, forged tokens, and an API per storage backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.api.tokens import Forger, Tokens
from tests.fixtures.api import ApiServer
from tests.fixtures.databases import new_database


@pytest.fixture(scope="session")
def tokens(tenant) -> Iterator[Tokens]:
    made = Tokens(tenant)
    yield made
    made.http.close()


@pytest.fixture(scope="session")
def forger(tenant) -> Forger:
    return Forger(tenant)


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend_api(
    request: pytest.FixtureRequest, api_server_factory: Callable[..., ApiServer]
) -> ApiServer:
    """An API on each storage backend: its own SQLite file, then its own PostgreSQL database."""
    if request.param == "sqlite":
        return api_server_factory()
    url = new_database(request.getfixturevalue("postgres_url"))
    return api_server_factory(DATABASE_URL=url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for several API processes to share: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite'}"
    return new_database(request.getfixturevalue("postgres_url"))
