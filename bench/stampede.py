"""stampede: upstream calls made by 50 concurrent requests missing the same resources key, with the
single-flight fill (value) and with it switched off (baseline, CACHE_STAMPEDE_CONTROL=false).

Both users services run side by side under gunicorn against the same monolith (default upstream
latency); each round uses an employee nobody has looked up yet. ratio = baseline/value.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench._cache_stack import CacheStack, cache_stack
from bench.common import emit, log, percentile, result

CONCURRENT = 50
ROUNDS = 3
UPSTREAM = 'upstream_requests_total{cache="resources"}'


def stampede(stack: CacheStack, service: str, user_id: str) -> dict[str, float]:
    """Fire CONCURRENT simultaneous requests for one uncached key; count the upstream calls."""
    url = f"{stack.users_urls[service]}/api/users/{user_id}/resources/"
    barrier = threading.Barrier(CONCURRENT)

    def one(_: int) -> tuple[int, str, float]:
        barrier.wait()
        started = time.perf_counter()
        response = requests.get(url, headers=stack.users_headers(), timeout=30)
        return response.status_code, response.headers.get("X-Cache", ""), time.perf_counter() - started

    before = stack.counters(service).get(UPSTREAM, 0)
    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(one, range(CONCURRENT)))
    upstream_calls = stack.counters(service).get(UPSTREAM, 0) - before
    latencies = [seconds * 1000 for _, _, seconds in answers]
    return {
        "upstream_calls": upstream_calls,
        "ok": sum(status == 200 for status, _, _ in answers),
        "misses": sum(cache == "miss" for _, cache, _ in answers),
        "p50_ms": round(percentile(latencies, 50), 1),
        "max_ms": round(max(latencies), 1),
    }


def main() -> None:
    services = {"controlled": {}, "uncontrolled": {"CACHE_STAMPEDE_CONTROL": "false"}}
    with cache_stack(employees=2 * ROUNDS, users_services=services) as stack:
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in services}
        for n in range(ROUNDS):
            for index, name in enumerate(services):
                user_id = stack.user_ids[2 * n + index]
                rounds[name].append(stampede(stack, name, user_id))
                log(f"round {n} {name}: {rounds[name][-1]}")

    value = statistics.mean(r["upstream_calls"] for r in rounds["controlled"])
    baseline = statistics.mean(r["upstream_calls"] for r in rounds["uncontrolled"])
    emit(
        result(
            "stampede",
            unit="upstream calls per 50 concurrent misses",
            value=value,
            baseline=baseline,
            ratio=baseline / value if value else None,
            params={
                "concurrent_requests": CONCURRENT,
                "rounds": ROUNDS,
                "server": "gunicorn gthread 2 workers x 32 threads each service, SQLite",
            },
            rounds=rounds,
        )
    )


if __name__ == "__main__":
    main()
