"""Fixtures shared by every test package, one plugin module per component.

Each module in `tests/fixtures/` starts the real servers it names (the local tenant, the
ToDoList API, the web app, PostgreSQL, Redis) on loopback and stops them afterwards.
"""

import pytest

from common.process import ServerProcess

pytest_plugins = [
    "tests.fixtures.tenant",
    "tests.fixtures.api",
    "tests.fixtures.databases",
    "tests.fixtures.web",
    "tests.fixtures.todos",
    "tests.fixtures.chromium",
]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a server a test or fixture started is still running at the end: every
    fixture stops what it starts, whatever the outcome."""
    left = ServerProcess.running_now()
    if left:
        session.config.get_terminal_writer().line(
            "servers still running after the tests (started, never stopped): " + ", ".join(left),
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
