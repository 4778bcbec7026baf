"""The cache never unpickles: a pickle written into the cache Redis under a real key (what
anyone who can write to that Redis could do) is not run. It reads as a miss, is counted, and the
next fill overwrites it."""

from __future__ import annotations

import pickle

import msgpack
import redis
from django.core.cache import cache

from tests.users_service.cache.support import counter
from users_service import cache_keys


class _Exploit:
    """Unpickling this calls open(marker, "w"): the file appears only if the pickle is run."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_in_the_cache_is_never_run(api_client, cache_redis, fake_monolith, tmp_path):
    user = fake_monolith.add_user("vpn")
    marker = tmp_path / "pickle-was-run"
    key = cache.make_key(cache_keys.resources(user))
    redis.Redis.from_url(cache_redis).set(key, pickle.dumps(_Exploit(str(marker))))

    first = api_client.get(f"/api/users/{user}/resources/")

    assert not marker.exists()
    assert (first.status_code, first["X-Cache"]) == (200, "miss")
    assert first.json() == {"user_id": user, "resources": fake_monolith.resources[user]}
    assert counter("cache_undecodable_total", "resources") == 1
    # The fill replaced the pickle with the JSON body, stored as msgpack bytes.
    stored = redis.Redis.from_url(cache_redis).get(key)
    assert msgpack.loads(stored) == first.content
    second = api_client.get(f"/api/users/{user}/resources/")
    assert (second.status_code, second["X-Cache"]) == (200, "hit")
    assert fake_monolith.calls[f"/api/users/{user}/resources/"] == 1


def test_a_value_of_another_type_is_not_served(api_client, cache_redis, fake_monolith):
    """Valid msgpack, but not a body (a map): a miss, not a 500."""
    redis.Redis.from_url(cache_redis).set(
        cache.make_key(cache_keys.catalogue("departments")), msgpack.dumps({"results": "forged"})
    )
    response = api_client.get("/api/catalogue/departments/")
    assert (response.status_code, response["X-Cache"]) == (200, "miss")
    assert response.json()["results"] == [{"code": "ENG", "name": "Engineering", "version": 1}]
    assert counter("cache_undecodable_total", "catalogue") == 1
