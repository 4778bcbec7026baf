"""Read-through with single-flight fills, on a real Redis and a stand-in monolith over HTTP."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache

from tests.users_service.cache.support import counter
from users_service import cache_keys
from users_service.read_through import CachePolicy, invalidate, read_through
from users_service.resources.selectors import resources_for_user

CONCURRENT_MISSES = 50


def concurrent_lookups(user_id: str, count: int) -> list:
    barrier = threading.Barrier(count)

    def lookup():
        barrier.wait()
        return resources_for_user(user_id=user_id)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: lookup(), range(count)))


def test_fifty_concurrent_misses_make_one_upstream_call(cache_redis, fake_monolith):
    fake_monolith.delay_seconds = 0.3
    user_id = fake_monolith.add_user("vpn", "wiki")

    lookups = concurrent_lookups(user_id, CONCURRENT_MISSES)

    assert fake_monolith.calls[f"/api/users/{user_id}/resources/"] == 1
    assert {lookup.json()["user_id"] for lookup in lookups} == {user_id}
    assert sorted(lookup.cache_status for lookup in lookups).count("miss") == 1
    assert counter("upstream_requests_total", "resources") == 1


def test_without_stampede_control_concurrent_misses_each_call_the_upstream(
    cache_redis, fake_monolith, settings
):
    settings.CACHE_STAMPEDE_CONTROL = False
    fake_monolith.delay_seconds = 0.3
    user_id = fake_monolith.add_user("vpn")

    concurrent_lookups(user_id, 10)

    assert fake_monolith.calls[f"/api/users/{user_id}/resources/"] > 1


def test_a_waiter_calls_the_upstream_itself_when_the_filler_never_stores(
    cache_redis, fake_monolith, settings
):
    settings.CACHE_FILL_WAIT_SECONDS = 0.2
    user_id = fake_monolith.add_user("vpn")
    key = cache_keys.resources(user_id)
    stuck_filler = cache.lock(cache_keys.fill_lock(key), timeout=30, thread_local=False)
    assert stuck_filler.acquire(blocking=False)

    lookup = resources_for_user(user_id=user_id)

    assert lookup.json()["resources"][0]["resource"] == "vpn"
    assert lookup.cache_status == "miss"
    assert counter("cache_fill_wait_timeouts_total", "resources") == 1


def test_a_fill_that_races_an_invalidation_is_not_stored(cache_redis):
    policy = CachePolicy("resources", 60)
    key = cache_keys.resources(uuid.uuid4())

    def fetch_while_the_value_changes():
        # The upstream answered with the old value; the change's invalidation lands meanwhile.
        invalidate(policy=policy, key=key)
        return b'{"resources": ["old"]}'

    first = read_through(policy=policy, key=key, fetch=fetch_while_the_value_changes)
    assert first.value == b'{"resources": ["old"]}'
    assert cache.get(key) is None
    assert counter("cache_fill_discarded_total", "resources") == 1

    second = read_through(policy=policy, key=key, fetch=lambda: b'{"resources": ["new"]}')
    assert (second.value, second.cache_status) == (b'{"resources": ["new"]}', "miss")
    assert read_through(policy=policy, key=key, fetch=lambda: pytest.fail("not cached")).cache_status == "hit"


def test_entries_live_for_the_ttl_plus_jitter(cache_redis, settings):
    settings.CACHE_TTL_JITTER = 0.1
    policy = CachePolicy("catalogue", 100)
    ttls = set()
    for n in range(20):
        key = cache_keys.resources(uuid.uuid4())
        read_through(policy=policy, key=key, fetch=lambda n=n: b"[%d]" % n)
        ttls.add(cache.ttl(key))
    assert all(99 <= ttl <= 110 for ttl in ttls), ttls
    assert len(ttls) > 1


def test_keys_are_versioned_and_normalised():
    user_id = uuid.uuid4()
    assert cache_keys.resources(str(user_id).upper()) == cache_keys.resources(user_id)
    assert cache_keys.resources(user_id).startswith(f"{cache_keys.KEY_VERSION}:resources:")
    assert cache_keys.catalogue("departments") == f"{cache_keys.KEY_VERSION}:catalogue:departments"
    with pytest.raises(ValueError, match="unknown catalogue"):
        cache_keys.catalogue("planets")
