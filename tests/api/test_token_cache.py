"""The API's cache of validated tokens is never more permissive than the full check.

The validator is the API's own (`api.auth.TokenValidator`) with the tenant's real key set (or
a key endpoint of the test's own serving the tenant's keys, `tests/common/jwks.py`) and tokens
signed with the tenant's key. "The full check would now refuse" is made true by changing
the audience the validator expects after the first acceptance: a cache hit still accepts, a
full check refuses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from api.auth import TokenValidator
from common.http import HttpClient
from common.oidc import KeySet, TokenError, fetch_discovery
from tests.api.tokens import READ, Forger, Tokens, claims_of
from tests.common.jwks import WAIT, JwksServer, client, rsa_jwk


@pytest.fixture
def validator(tenant, tokens: Tokens) -> TokenValidator:
    http = HttpClient(ca_file=tenant.ca_file)
    discovery = fetch_discovery(http, tenant.authority)
    keys = KeySet(http, discovery["jwks_uri"], min_refresh_interval=0)
    keys.load()
    return TokenValidator(
        keys,
        issuer=discovery["issuer"],
        audience=tokens.api_id,
        tenant_id=tenant.tenant_id,
        leeway=120,
    )


@pytest.fixture
def valid(tokens: Tokens) -> str:
    return tokens.user("cache-alice", READ).token


def _refuse_from_now_on(validator: TokenValidator) -> None:
    validator.audience = "00000000-0000-0000-0000-00000000beef"


def test_a_validated_token_is_answered_from_the_cache(validator, valid) -> None:
    first = validator.caller(valid)
    _refuse_from_now_on(validator)
    assert validator.caller(valid) == first
    assert validator.cached_tokens == 1


def test_a_refused_token_is_never_cached(validator, valid, forger: Forger) -> None:
    wrong_tenant = forger.sign(forger.claims(valid, tid="11111111-2222-3333-4444-555555555555"))
    for _ in range(2):
        with pytest.raises(TokenError):
            validator.caller(wrong_tenant)
    assert validator.cached_tokens == 0


def test_the_cache_is_not_used_past_exp_even_within_the_leeway(validator, valid, forger) -> None:
    # Expired 5 s ago: the full check accepts it (120 s leeway), the cache must not.
    now = int(time.time())
    token = forger.sign(forger.claims(valid, iat=now - 600, nbf=now - 600, exp=now - 5))
    validator.caller(token)
    _refuse_from_now_on(validator)
    with pytest.raises(TokenError):
        validator.caller(token)


def test_the_cache_follows_the_clock_to_exp(tenant, tokens, valid) -> None:
    http = HttpClient(ca_file=tenant.ca_file)
    discovery = fetch_discovery(http, tenant.authority)
    keys = KeySet(http, discovery["jwks_uri"])
    keys.load()
    now = [time.time()]
    validator = TokenValidator(
        keys, issuer=discovery["issuer"], audience=tokens.api_id, tenant_id=tenant.tenant_id,
        leeway=120, clock=lambda: now[0],
    )
    validator.caller(valid)
    _refuse_from_now_on(validator)
    validator.caller(valid)  # before exp: from the cache
    now[0] = claims_of(valid)["exp"]
    with pytest.raises(TokenError):
        validator.caller(valid)


def test_a_re_fetch_that_brings_the_same_keys_keeps_the_cache(validator, valid) -> None:
    first = validator.caller(valid)
    validator.keys.load()
    _refuse_from_now_on(validator)
    assert validator.caller(valid) == first
    assert validator.cached_tokens == 1


@pytest.fixture
def tenant_jwks(tenant) -> Iterator[JwksServer]:
    """A key endpoint of the test's own serving the tenant's published keys."""
    with HttpClient(ca_file=tenant.ca_file) as http:
        published = http.get(tenant.jwks_uri).json()["keys"]
    with JwksServer(published) as server:
        yield server


def _validator_of(keys: KeySet, tenant, tokens: Tokens) -> TokenValidator:
    return TokenValidator(
        keys, issuer=tenant.issuer, audience=tokens.api_id, tenant_id=tenant.tenant_id,
        leeway=120,
    )


def test_a_changed_key_set_empties_the_cache(
    tenant, tokens: Tokens, valid, tenant_jwks: JwksServer
) -> None:
    with HttpClient() as http:
        keys = KeySet(http, tenant_jwks.url, min_refresh_interval=0)
        keys.load()
        validator = _validator_of(keys, tenant, tokens)
        validator.caller(valid)
        tenant_jwks.keys = [*tenant_jwks.keys, rsa_jwk("added")]
        keys.load()
        _refuse_from_now_on(validator)
        with pytest.raises(TokenError):
            validator.caller(valid)
    assert validator.cached_tokens == 0


def test_a_token_with_a_known_key_is_checked_while_a_key_set_fetch_is_in_progress(
    tenant, tokens: Tokens, forger: Forger, tenant_jwks: JwksServer
) -> None:
    """A token with an unknown kid makes the validator fetch the key set; the endpoint holds
    that request. A first-seen token signed with a known key is fully checked meanwhile."""
    valid = tokens.user("cache-alice", READ).token
    unknown_kid = forger.sign(forger.claims(valid), key=forger.own_key, kid="rotated-in")
    fresh = forger.sign(forger.claims(valid))  # never seen: not in the cache
    with client() as http:
        keys = KeySet(http, tenant_jwks.url, min_refresh_interval=0)
        keys.load()
        validator = _validator_of(keys, tenant, tokens)
        hold = tenant_jwks.hold()
        outcome: list[BaseException] = []

        def check_unknown() -> None:
            try:
                validator.caller(unknown_kid)
            except TokenError as exc:
                outcome.append(exc)

        fetching = threading.Thread(target=check_unknown, daemon=True)
        fetching.start()
        assert hold.arrived.wait(WAIT)
        caller = validator.caller(fresh)
        fetch_still_unanswered = not hold.answering.is_set()
        hold.release.set()
        fetching.join()
    assert fetch_still_unanswered
    assert caller.oid == claims_of(valid)["oid"]
    assert len(outcome) == 1
    assert "not one of the tenant's keys" in str(outcome[0])


def test_the_cache_is_bounded(validator, valid, forger: Forger) -> None:
    validator.cache_size = 3
    issued = [forger.sign(forger.claims(valid)) for _ in range(10)]
    for token in issued:
        validator.caller(token)
        assert validator.cached_tokens <= 3
    assert validator.cached_tokens >= 1


def test_concurrent_first_sight_gives_every_thread_the_same_caller(validator, valid) -> None:
    results: list[object] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        try:
            results.append(validator.caller(valid))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 8
    assert len(set(results)) == 1
    assert validator.cached_tokens == 1
