"""`common.oidc.KeySet` against a key endpoint on a real socket (`tests/common/jwks.py`).

A fetch for an unknown `kid` runs without holding up lookups of known keys; lookups that miss
while it runs wait for it rather than each fetching again; `version` moves only when the keys
do. Ordering is shown with events (the endpoint holds a request until released), never with
sleeps or timings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import jwt
import pytest

from common.http import HttpClient
from common.oidc import KeySet, KeySetUnavailable, TokenError
from tests.common.jwks import WAIT, JwksServer, client, rsa_jwk

KNOWN = rsa_jwk("known")
OTHER = rsa_jwk("other")


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer([KNOWN]) as server:
        yield server


@pytest.fixture
def http() -> Iterator[HttpClient]:
    with client() as session:
        yield session


class WaitingLookups(logging.Handler):
    """Sets `reached` once `needed` lookups have said they wait for the fetch in progress
    (`KeySet` logs that at DEBUG just before it waits)."""

    def __init__(self, needed: int) -> None:
        super().__init__(logging.DEBUG)
        self.needed = needed
        self.count = 0
        self.reached = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("waiting for the key-set fetch in progress"):
            self.count += 1
            if self.count >= self.needed:
                self.reached.set()


@pytest.fixture
def waiting() -> Iterator[Callable[[int], WaitingLookups]]:
    logger = logging.getLogger("common.oidc")
    level = logger.level
    handlers: list[WaitingLookups] = []

    def watch(needed: int) -> WaitingLookups:
        handler = WaitingLookups(needed)
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    logger.setLevel(logging.DEBUG)
    yield watch
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(level)


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """`work` started in a thread; the list gets its result or the exception it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(work())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_known_key_is_found_while_a_fetch_for_an_unknown_kid_is_in_progress(
    jwks: JwksServer, http: HttpClient
) -> None:
    keys = KeySet(http, jwks.url, min_refresh_interval=0)
    assert keys.load() == 1
    hold = jwks.hold()
    fetching, outcome = in_thread(lambda: keys.get("rotated-in"))
    assert hold.arrived.wait(WAIT)

    found = keys.get("known")
    fetch_still_unanswered = not hold.answering.is_set()
    hold.release.set()
    fetching.join()

    assert fetch_still_unanswered  # the lookup did not wait for the fetch
    assert isinstance(found, jwt.PyJWK)
    assert found.key_id == "known"
    assert isinstance(outcome[0], TokenError)
    assert jwks.requests == 2


def test_lookups_that_miss_during_a_fetch_wait_for_it_instead_of_fetching_again(
    jwks: JwksServer, http: HttpClient, waiting: Callable[[int], WaitingLookups]
) -> None:
    """No cool-down (0 s), a `kid` the fetch does not bring: each lookup that missed while the
    fetch ran gets that fetch's verdict, and only the first one asked the endpoint."""
    keys = KeySet(http, jwks.url, min_refresh_interval=0)
    keys.load()
    hold = jwks.hold()
    first = in_thread(lambda: keys.get("made-up"))
    assert hold.arrived.wait(WAIT)
    watcher = waiting(3)
    others = [in_thread(lambda: keys.get("made-up")) for _ in range(3)]
    assert watcher.reached.wait(WAIT)  # all three are waiting for the fetch in progress
    hold.release.set()
    for thread, _ in (first, *others):
        thread.join()

    assert jwks.requests == 2  # the start-up load and the one fetch
    for _, outcome in (first, *others):
        assert isinstance(outcome[0], TokenError)
        assert not isinstance(outcome[0], KeySetUnavailable)
        assert "not one of the tenant's keys" in str(outcome[0])


def test_lookups_waiting_for_a_fetch_that_fails_get_its_failure(
    jwks: JwksServer, http: HttpClient, waiting: Callable[[int], WaitingLookups]
) -> None:
    keys = KeySet(http, jwks.url, min_refresh_interval=0)
    keys.load()
    hold = jwks.hold(status=503)
    first = in_thread(lambda: keys.get("made-up"))
    assert hold.arrived.wait(WAIT)
    watcher = waiting(2)
    others = [in_thread(lambda: keys.get("made-up")) for _ in range(2)]
    assert watcher.reached.wait(WAIT)
    hold.release.set()
    for thread, _ in (first, *others):
        thread.join()

    assert jwks.requests == 2
    for _, outcome in (first, *others):
        assert isinstance(outcome[0], KeySetUnavailable)
        assert "could not be fetched (HTTPError)" in str(outcome[0])
    assert keys.get("known").key_id == "known"  # the keys it had are kept


def test_a_key_brought_by_the_fetch_is_found_by_the_lookups_that_waited(
    jwks: JwksServer, http: HttpClient, waiting: Callable[[int], WaitingLookups]
) -> None:
    now = [0.0]
    keys = KeySet(http, jwks.url, min_refresh_interval=60, clock=lambda: now[0])
    keys.load()
    now[0] = 61.0  # the cool-down has passed
    hold = jwks.hold()
    first = in_thread(lambda: keys.get("other"))
    assert hold.arrived.wait(WAIT)
    jwks.keys = [KNOWN, OTHER]  # the held request is answered with the new set
    watcher = waiting(2)
    others = [in_thread(lambda: keys.get("other")) for _ in range(2)]
    assert watcher.reached.wait(WAIT)
    hold.release.set()
    for thread, _ in (first, *others):
        thread.join()
    for _, outcome in (first, *others):
        assert isinstance(outcome[0], jwt.PyJWK)
        assert outcome[0].key_id == "other"
    assert jwks.requests == 2


def test_version_moves_only_when_the_keys_change(jwks: JwksServer, http: HttpClient) -> None:
    keys = KeySet(http, jwks.url, min_refresh_interval=0)
    keys.load()
    first = keys.version
    keys.load()
    assert keys.version == first  # fetched again, the same keys
    jwks.keys = [KNOWN, OTHER]
    keys.load()
    assert keys.version == first + 1  # a key added
    jwks.keys = [OTHER, KNOWN]
    keys.load()
    assert keys.version == first + 1  # the same keys in another order
    jwks.keys = [OTHER]
    keys.load()
    assert keys.version == first + 2  # a key withdrawn
    with pytest.raises(TokenError):
        keys.get("known")
    assert jwks.requests == 6
