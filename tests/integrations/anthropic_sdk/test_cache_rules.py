"""Which calls the response cache answers: the policy (deterministic requests by default,
``mode="always"``, per feature), the caller's directives (``costcap_cache=False``,
``Cache-Control: no-store`` / ``no-cache``), the namespaces that keep features and users apart,
and the rate limits and budgets a hit meets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from costcap import BudgetExceeded, Guard, RateLimit, RateLimited
from costcap.cache import AsyncResponseCache, CachePolicy, FeatureCache, ResponseCache
from costcap.integrations.wrap import wrap
from costcap.testing import FakeProviderServer
from tests.integrations.anthropic_sdk.conftest import (
    MESSAGES,
    MODEL,
    Recorder,
    asked,
    async_sdk_client,
    billed_pico,
    make_async_guard,
    make_guard,
    poor_guard,
    sdk_client,
)

#: A call at the API's default temperature: not deterministic.
PLAIN: dict[str, Any] = {"model": MODEL, "max_tokens": 50, "messages": MESSAGES}


@pytest.fixture
def policy_client(
    request: pytest.FixtureRequest, fp: FakeProviderServer, guard: Guard
) -> Iterator[tuple[anthropic.Anthropic, ResponseCache]]:
    """A wrapped client whose cache has the policy the test is parametrized with."""
    cache = ResponseCache(policy=request.param)
    with wrap(sdk_client(fp), guard=guard, cache=cache) as client:
        yield client, cache


def test_a_request_not_at_temperature_0_is_not_cached(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache, recorder: Recorder
) -> None:
    """By default only a deterministic request is cached; the others bypass the cache and are
    not counted as misses."""
    cached.messages.create(**PLAIN)
    cached.messages.create(**PLAIN)
    assert len(fp.requests) == 2
    assert (cache.stats.bypasses, cache.stats.misses, cache.stats.stored) == (2, 0, 0)
    assert [e.cache_miss for e in recorder.events] == [False, False]


@pytest.mark.parametrize(
    "policy_client",
    [CachePolicy(mode="always"), CachePolicy(features={"faq": FeatureCache(mode="always")})],
    indirect=True,
    ids=["always", "feature"],
)
def test_mode_always_caches_any_request(
    policy_client: tuple[anthropic.Anthropic, ResponseCache], fp: FakeProviderServer
) -> None:
    client, _ = policy_client
    first = client.messages.create(**PLAIN, costcap_feature="faq")  # type: ignore[call-overload]
    assert client.messages.create(**PLAIN, costcap_feature="faq") == first  # type: ignore[call-overload]
    assert len(fp.requests) == 1


@pytest.mark.parametrize(
    "policy_client",
    [CachePolicy(features={"faq": FeatureCache(mode="always")})],
    indirect=True,
)
def test_a_feature_rule_applies_to_its_feature_alone(
    policy_client: tuple[anthropic.Anthropic, ResponseCache], fp: FakeProviderServer
) -> None:
    client, cache = policy_client
    client.messages.create(**PLAIN, costcap_feature="chat")  # type: ignore[call-overload]
    client.messages.create(**PLAIN, costcap_feature="chat")  # type: ignore[call-overload]
    assert len(fp.requests) == 2
    assert cache.stats.bypasses == 2


@pytest.mark.parametrize(
    "policy_client", [CachePolicy(features={"chat": FeatureCache(enabled=False)})], indirect=True
)
def test_a_feature_can_turn_the_cache_off(
    policy_client: tuple[anthropic.Anthropic, ResponseCache], fp: FakeProviderServer
) -> None:
    client, _ = policy_client
    client.messages.create(**asked(costcap_feature="chat"))
    client.messages.create(**asked(costcap_feature="chat"))
    client.messages.create(**asked(costcap_feature="faq"))
    client.messages.create(**asked(costcap_feature="faq"))
    assert len(fp.requests) == 3


def test_costcap_cache_false_bypasses_and_keeps_nothing(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    """``costcap_cache=False`` neither reads nor stores (and never reaches the SDK)."""
    cached.messages.create(**asked(costcap_cache=False))
    cached.messages.create(**asked(costcap_cache=False))
    cached.messages.create(**asked())
    assert len(fp.requests) == 3
    assert (cache.stats.bypasses, cache.stats.stored) == (2, 1)


def test_costcap_cache_is_taken_by_a_client_without_a_cache(
    client: anthropic.Anthropic, fp: FakeProviderServer
) -> None:
    client.messages.create(**asked(costcap_cache=False))
    assert len(fp.requests) == 1


def test_no_store_bypasses_the_cache(
    cached: anthropic.Anthropic, fp: FakeProviderServer, cache: ResponseCache
) -> None:
    """``Cache-Control: no-store`` is not answered from the cache, and its answer is not
    kept."""
    stored = cached.messages.create(**asked())
    fresh = cached.messages.create(**asked(extra_headers={"Cache-Control": "no-store"}))
    assert fresh.id != stored.id
    assert cached.messages.create(**asked()) == stored
    assert len(fp.requests) == 2
    assert (cache.stats.stored, cache.stats.hits) == (1, 1)


def test_no_cache_refreshes_the_entry(
    cached: anthropic.Anthropic, fp: FakeProviderServer, recorder: Recorder
) -> None:
    """``Cache-Control: no-cache`` asks the provider and stores its answer in place of the
    old one: the next call gets the fresh answer."""
    stale = cached.messages.create(**asked())
    fresh = cached.messages.create(**asked(extra_headers={"cache-control": "no-cache"}))
    assert fresh.id != stale.id
    assert cached.messages.create(**asked()) == fresh
    assert len(fp.requests) == 2
    assert [e.cache_hit for e in recorder.events] == [False, False, True]
    assert [e.cache_miss for e in recorder.events] == [True, False, False]  # a refresh


def test_no_cache_refreshes_a_stream(cached: anthropic.Anthropic, fp: FakeProviderServer) -> None:
    stale = list(cached.messages.create(**asked(stream=True)))
    headers = {"Cache-Control": "no-cache"}
    fresh = list(cached.messages.create(**asked(stream=True, extra_headers=headers)))
    assert fresh != stale
    assert list(cached.messages.create(**asked(stream=True))) == fresh
    assert len(fp.requests) == 2


def test_features_do_not_share_entries(cached: anthropic.Anthropic, fp: FakeProviderServer) -> None:
    faq = cached.messages.create(**asked(costcap_feature="faq"))
    chat = cached.messages.create(**asked(costcap_feature="chat"))
    assert chat.id != faq.id
    assert cached.messages.create(**asked(costcap_feature="faq")) == faq
    assert cached.messages.create(**asked(costcap_feature="chat")) == chat
    assert len(fp.requests) == 2


@pytest.mark.parametrize("policy_client", [CachePolicy(namespace="user")], indirect=True)
def test_user_namespace_keeps_users_apart(
    policy_client: tuple[anthropic.Anthropic, ResponseCache], fp: FakeProviderServer
) -> None:
    """Under ``namespace="user"`` each user has their own entries; the user may come from
    ``costcap_user_id`` or the request's ``metadata.user_id``."""
    client, _ = policy_client
    alice = client.messages.create(**asked(costcap_user_id="alice"))
    bob = client.messages.create(**asked(costcap_user_id="bob"))
    assert bob.id != alice.id
    again = client.messages.create(**asked(metadata={"user_id": "alice"}))
    assert again == alice
    assert len(fp.requests) == 2


@pytest.mark.parametrize("policy_client", [CachePolicy(namespace="shared")], indirect=True)
def test_shared_namespace_shares_across_features(
    policy_client: tuple[anthropic.Anthropic, ResponseCache], fp: FakeProviderServer
) -> None:
    client, _ = policy_client
    faq = client.messages.create(**asked(costcap_feature="faq"))
    assert client.messages.create(**asked(costcap_feature="chat")) == faq
    assert len(fp.requests) == 1


def test_hits_count_on_request_rate_limits(fp: FakeProviderServer, recorder: Recorder) -> None:
    """A request-count rate limit counts hits: with 3 requests a minute, the miss and two hits
    pass and the third hit is refused (recorded), never reaching the provider."""
    guard = make_guard(recorder, limits=[RateLimit("3/minute", per="global")])
    with wrap(sdk_client(fp), guard=guard, cache=ResponseCache()) as client:
        for _ in range(3):
            client.messages.create(**asked())
        with pytest.raises(RateLimited):
            client.messages.create(**asked())
    assert len(fp.requests) == 1
    assert recorder.statuses() == ["ok", "ok", "ok", "refused"]
    assert [e.cache_hit for e in recorder.events] == [False, True, True, False]
    guard.close()


async def test_async_hits_count_on_request_rate_limits(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    guard = make_async_guard(recorder, limits=[RateLimit("2/minute", per="user")])
    async with wrap(async_sdk_client(fp), guard=guard, cache=AsyncResponseCache()) as client:
        for _ in range(2):
            await client.messages.create(**asked(costcap_user_id="alice"))
        with pytest.raises(RateLimited):
            await client.messages.create(**asked(costcap_user_id="alice"))
        await client.messages.create(**asked(costcap_user_id="bob"))  # another user's count
    assert len(fp.requests) == 1
    assert recorder.statuses() == ["ok", "ok", "refused", "ok"]
    await guard.close()


def test_an_exhausted_budget_does_not_stop_a_hit(
    fp: FakeProviderServer, recorder: Recorder
) -> None:
    """A hit reserves nothing: a guard whose budget covers no call still answers from the
    cache, at $0, saving what the stored call was billed."""
    cache = ResponseCache()
    rich, poor = make_guard(Recorder()), poor_guard(recorder)
    with wrap(sdk_client(fp), guard=rich, cache=cache) as client:
        stored = client.messages.create(**asked())
    with wrap(sdk_client(fp), guard=poor, cache=cache) as client:
        assert client.messages.create(**asked()) == stored
        with pytest.raises(BudgetExceeded):
            client.messages.create(**asked(max_tokens=51))  # not in the cache: refused
    [hit, refused] = recorder.events
    assert (hit.cache_hit, hit.cost_pico, hit.saved_pico) == (True, 0, billed_pico(fp))
    assert refused.status == "refused"
    assert len(fp.requests) == 1
    rich.close()
    poor.close()
