"""Fixtures shared by every test package, one plugin module per component.

Each module in `tests/fixtures/` starts the real servers it names (the local tenant, the
ToDoList API, the web app, PostgreSQL, Redis) on loopback and stops them afterwards.
"""

pytest_plugins = [
    "tests.fixtures.tenant",
    "tests.fixtures.api",
    "tests.fixtures.databases",
    "tests.fixtures.web",
    "tests.fixtures.todos",
    "tests.fixtures.chromium",
]
