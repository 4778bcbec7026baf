"""cache_catalogue: the users service's cached `/api/catalogue/departments/` vs the monolith's own
`/api/departments/`, under wrk at concurrency 16; value and baseline in requests/s.

Also reported: p50/p99 of both, the hit ratio of the catalogue cache during the cached run, and
the CPU milliseconds per request of each process (both services, both Redis, wrk) for each side:
on 2 cores the requests/s of each side is set by its CPU per request.
"""

from __future__ import annotations

from typing import Any

import requests

from bench._cache_stack import (
    COUNTERS_SETTLE_SECONDS,
    CacheStack,
    LoadResult,
    cache_stack,
    cpu_per_request,
    wrk,
)
from bench.common import emit, log, result

CONNECTIONS = 16
SECONDS = 10
#: Threads per gunicorn worker (2 workers): one per wrk connection; more only add GIL contention here.
THREADS = 8
HITS = 'cache_hits_total{cache="catalogue"}'
MISSES = 'cache_misses_total{cache="catalogue"}'


def add_departments(stack: CacheStack, count: int) -> None:
    """Catalogue entries as a mid-sized company has them: the demo's 5 plus `count` more."""
    for n in range(count):
        requests.post(
            stack.hr_url + "/api/departments/",
            json={"code": f"D{n:02d}", "name": f"Department {n}"},
            headers=stack.hr_headers(),
            timeout=10,
        ).raise_for_status()


def load(stack: CacheStack, base_url: str, path: str, token: str) -> tuple[LoadResult, dict[str, float]]:
    return cpu_per_request(
        stack, lambda: wrk(base_url, [path], token=token, seconds=SECONDS, connections=CONNECTIONS)
    )


def measure(stack: CacheStack) -> dict[str, Any]:
    """wrk on the monolith's own endpoint (uncached), then on the users service's cached copy."""
    users_url = stack.users_urls["default"]
    before = stack.counters()
    log(f"uncached: wrk c{CONNECTIONS} {SECONDS}s on the monolith's /api/departments/")
    uncached, uncached_cpu = load(stack, stack.hr_url, "/api/departments/", stack.hr_token)
    log(f"  {uncached}")
    log(f"cached: wrk c{CONNECTIONS} {SECONDS}s on the users service's /api/catalogue/departments/")
    cached, cached_cpu = load(stack, users_url, "/api/catalogue/departments/", stack.users_token)
    log(f"  {cached}")
    after = stack.counters(settle_seconds=COUNTERS_SETTLE_SECONDS)
    hits = after.get(HITS, 0) - before.get(HITS, 0)
    misses = after.get(MISSES, 0) - before.get(MISSES, 0)
    entries = requests.get(
        users_url + "/api/catalogue/departments/", headers=stack.users_headers(), timeout=30
    ).json()
    return {
        "cached": cached,
        "uncached": uncached,
        "cpu": {"cached": cached_cpu, "uncached": uncached_cpu},
        "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        "misses": misses,
        "entries": entries["count"],
    }


def main() -> None:
    with cache_stack(employees=20, threads=THREADS) as stack:
        add_departments(stack, 45)
        run = measure(stack)
    cached, uncached = run["cached"], run["uncached"]
    emit(
        result(
            "cache_catalogue",
            unit="requests/s",
            value=cached.requests_per_second,
            baseline=uncached.requests_per_second,
            params={
                "connections": CONNECTIONS,
                "seconds_each": SECONDS,
                "catalogue_entries": run["entries"],
                "server": f"gunicorn gthread 2 workers x {THREADS} threads each, SQLite, DJANGO_DEBUG=false",
                "throttle": "users service throttle runs on every request, rate raised so it never refuses",
                "cpu_bound": "wrk, both services and Redis share 2 cores: the requests/s ratio is bounded by "
                "the ratio of total CPU per request (cpu_ms_per_request); 10x needs <= 0.35 ms per cached "
                "request, gunicorn alone costs 0.10 ms and Django+DRF's hit path 0.30-0.40 ms",
                "load_tool": "wrk",
            },
            cached=cached.figures(),
            uncached=uncached.figures(),
            cpu_ms_per_request=run["cpu"],
            hit_ratio=run["hit_ratio"],
            cache_misses=run["misses"],
        )
    )


if __name__ == "__main__":
    main()
