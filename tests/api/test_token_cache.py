"""The API's cache of validated tokens is never more permissive than the full check.

The validator is the API's own (`api.auth.TokenValidator`) with the tenant's real key set and
tokens signed with the tenant's key. "The full check would now refuse" is made true by changing
the audience the validator expects after the first acceptance: a cache hit still accepts, a
full check refuses.
"""

from __future__ import annotations

import threading
import time

import pytest

from api.auth import TokenValidator
from common.http import HttpClient
from common.oidc import KeySet, TokenError, fetch_discovery
from tests.api.tokens import READ, Forger, Tokens, claims_of


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


def test_a_key_set_re_fetch_empties_the_cache(validator, valid) -> None:
    validator.caller(valid)
    validator.keys.load()
    _refuse_from_now_on(validator)
    with pytest.raises(TokenError):
        validator.caller(valid)
    assert validator.cached_tokens == 0


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
