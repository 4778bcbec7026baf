"""cache_resources: the users service's cached `/api/users/<uuid>/resources/` vs the same lookups
straight to the monolith (default upstream latency RESOURCES_LATENCY_MS), under wrk at concurrency 16.

value = cached p50 (ms), baseline = uncached p50, ratio = baseline/value. Also reported: p99 and
requests/s of both, the hit ratio during the cached run, p50s at concurrency 1 (no queueing), and
the CPU milliseconds per request of each process (both services, both Redis, wrk) for each side.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench._cache_stack import COUNTERS_SETTLE_SECONDS, CacheStack, cache_stack, cpu_per_request, wrk
from bench.common import emit, log, result

CONNECTIONS = 16
SECONDS = 10
SECONDS_SEQUENTIAL = 4
EMPLOYEES = 200
#: The users service's gunicorn (workers, threads): one process per core (each has its own GIL), and
#: a thread for each of the 16 connections. The monolith keeps 2 x 32 (its baseline is unchanged).
USERS_LAYOUT = (2, 8)
HITS = 'cache_hits_total{cache="resources"}'
MISSES = 'cache_misses_total{cache="resources"}'


def warm(stack: CacheStack, paths: list[str]) -> None:
    """Every user's resources fetched once through the users service, so that the cached run only hits."""
    users_url = stack.users_urls["default"]
    log(f"warming {len(paths)} users' resources")
    with ThreadPoolExecutor(16) as pool:
        for response in pool.map(
            lambda path: requests.get(users_url + path, headers=stack.users_headers(), timeout=10), paths
        ):
            response.raise_for_status()


def measure(stack: CacheStack, paths: list[str]) -> dict[str, Any]:
    """wrk on the monolith (uncached), then on the users service (cached), then both at concurrency 1."""
    users_url = stack.users_urls["default"]
    log(f"uncached: wrk c{CONNECTIONS} {SECONDS}s on the monolith")
    uncached, uncached_cpu = cpu_per_request(
        stack,
        lambda: wrk(stack.hr_url, paths, token=stack.hr_token, seconds=SECONDS, connections=CONNECTIONS),
    )
    log(f"  {uncached}")
    before = stack.counters()
    log(f"cached: wrk c{CONNECTIONS} {SECONDS}s on the users service")
    cached, cached_cpu = cpu_per_request(
        stack,
        lambda: wrk(users_url, paths, token=stack.users_token, seconds=SECONDS, connections=CONNECTIONS),
    )
    log(f"  {cached}")
    after = stack.counters(settle_seconds=COUNTERS_SETTLE_SECONDS)
    log("concurrency 1, both")
    one = {"seconds": SECONDS_SEQUENTIAL, "connections": 1, "threads": 1}
    hits = after.get(HITS, 0) - before.get(HITS, 0)
    misses = after.get(MISSES, 0) - before.get(MISSES, 0)
    return {
        "cached": cached,
        "uncached": uncached,
        "cpu": {"cached": cached_cpu, "uncached": uncached_cpu},
        "uncached_c1": wrk(stack.hr_url, paths, token=stack.hr_token, **one),
        "cached_c1": wrk(users_url, paths, token=stack.users_token, **one),
        "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
    }


def main() -> None:
    with cache_stack(employees=EMPLOYEES, users_layout=USERS_LAYOUT) as stack:
        paths = [f"/api/users/{user_id}/resources/" for user_id in stack.user_ids]
        warm(stack, paths)
        run = measure(stack, paths)
        latency_ms = int(stack.env.get("RESOURCES_LATENCY_MS", "300"))
    cached, uncached = run["cached"], run["uncached"]
    emit(
        result(
            "cache_resources",
            unit="ms p50",
            value=cached.p50_ms,
            baseline=uncached.p50_ms,
            ratio=uncached.p50_ms / cached.p50_ms,
            params={
                "connections": CONNECTIONS,
                "seconds_each": SECONDS,
                "employees": EMPLOYEES,
                "upstream_latency_ms": latency_ms,
                "server": "gunicorn gthread: monolith 2 workers x 32 threads, users service "
                f"{USERS_LAYOUT[0]} workers x {USERS_LAYOUT[1]} threads; SQLite, DJANGO_DEBUG=false",
                "throttle": "users service throttle runs on every request, rate raised so it never refuses",
                "cpu_bound": "cached p50 at 16 connections is queueing for 2 shared cores, about 16 / "
                "requests per second; 50x needs p50 <= 6.1 ms, about 2,600 requests/s, about 0.77 ms "
                "of CPU per request in all (cpu_ms_per_request)",
                "redis": "cache allkeys-lru maxmemory 64mb; broker/metrics noeviction",
                "load_tool": "wrk",
            },
            cached=cached.figures(),
            uncached=uncached.figures(),
            cpu_ms_per_request=run["cpu"],
            requests_per_second_ratio=round(cached.requests_per_second / uncached.requests_per_second, 2),
            hit_ratio=run["hit_ratio"],
            concurrency_1={
                "cached_p50_ms": run["cached_c1"].p50_ms,
                "uncached_p50_ms": run["uncached_c1"].p50_ms,
                "ratio": round(run["uncached_c1"].p50_ms / run["cached_c1"].p50_ms, 2),
            },
        )
    )


if __name__ == "__main__":
    main()
