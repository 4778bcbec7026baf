"""CPU per cached request by layer, under the benchmarks' own server: `python -m bench._hit_layers
[--rounds N] [--seconds S] [variant ...]`.

Not a benchmark (no baseline): the tool behind the "CPU per hit by layer" figures. It starts the
cache_resources stack, warms every user's resources, then serves the same hits from one more
gunicorn per variant (a bare WSGI app with the same bytes, the service with fewer middleware, the
service as it ships under docker/gunicorn.conf.py, without the access log or with it written another
way, through DRF, other worker layouts) and runs wrk (16 connections) against
each in turn, `--rounds` times, interleaved so that the machine's load falls on all alike. Prints
one JSON line: per variant the median over rounds of the users-web CPU milliseconds per request,
requests/s and p50, and the least CPU per request of a round (`cpu_ms_least`: the steadier figure
on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from gunicorn import glogging

from bench._cache_stack import GUNICORN, CacheStack, _answers, _gunicorn, cache_stack, wrk
from bench.cache_resources import CONNECTIONS, EMPLOYEES, USERS_LAYOUT, warm
from bench.common import cpu_seconds_of, emit, log
from devstack.processes import ManagedProcess, free_port, wait_until
from shared_settings.access_log import AccessLogger

LATENCY = "shared_settings.http_metrics.RequestLatencyMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"
HIT = "users_service.cache_hits.CacheHitMiddleware"
#: The service's Django application without the hit layer in front of it (users_service/wsgi.py).
DJANGO_APP = "users_service.wsgi:django_application"
HITS = 'cache_hits_total{cache="resources"}'
MISSES = 'cache_misses_total{cache="resources"}'


@dataclass(frozen=True)
class Variant:
    """One way of serving the hits: another WSGI app, other settings, another worker layout."""

    env: dict[str, str] = field(default_factory=dict)
    app: str | None = None
    layout: tuple[int, int] = USERS_LAYOUT
    gunicorn_args: tuple[str, ...] = ()
    #: Under docker/gunicorn.conf.py, as the services ship (its access log included); False: gthread
    #: with gunicorn's defaults, no access log.
    product_config: bool = True


def _middleware(*paths: str) -> dict[str, str]:
    return {"DJANGO_SETTINGS_MODULE": "bench._layer_settings", "BENCH_MIDDLEWARE": ",".join(paths)}


#: gunicorn's logger class for each way of writing the access log.
LINE_ACCESS_LOGGER = "bench._hit_layers.LineAccessLogger"


class LineAccessLogger(AccessLogger):
    """The services' access logger writing each line as it comes (gunicorn's own handler), as it
    did before its lines were written in batches: the A side of `service_line_access_log`."""

    def setup(self, cfg: Any) -> None:
        glogging.Logger.setup(self, cfg)


VARIANTS: dict[str, Variant] = {
    "bare_wsgi": Variant(app="bench._bare_wsgi:application", product_config=False),
    # Django's handler, then the hit as a middleware: with none, with the two that run before it.
    "django_hit_only": Variant(app=DJANGO_APP, env=_middleware(HIT), product_config=False),
    "django_latency_security_hit": Variant(
        app=DJANGO_APP, env=_middleware(LATENCY, SECURITY, HIT), product_config=False
    ),
    # The service's own middleware list: hits answered inside Django, in front of it, through DRF.
    "service_hits_in_django": Variant(app=DJANGO_APP, product_config=False),
    "service_no_access_log": Variant(product_config=False),
    "service_through_drf": Variant(env={"CACHE_FAST_HITS": "false"}),
    # As the services ship (docker/gunicorn.conf.py): the access log on stdout, written in batches
    # (shared_settings/access_log.py); each line written as it comes; gunicorn's own logger.
    "service": Variant(),
    "service_line_access_log": Variant(gunicorn_args=("--logger-class", LINE_ACCESS_LOGGER)),
    "service_gunicorn_access_log": Variant(gunicorn_args=("--logger-class", "gunicorn.glogging.Logger")),
    "service_2x4": Variant(layout=(2, 4)),
    "service_2x16": Variant(layout=(2, 16)),
    "service_3x8": Variant(layout=(3, 8)),
    "service_1x16": Variant(layout=(1, 16)),
}


def start(stack: CacheStack, name: str, variant: Variant) -> tuple[str, ManagedProcess]:
    port = free_port()
    workers, threads = variant.layout
    workdir = Path(stack.env["VAR_DIR"])
    # Metrics of its own, so that its hits and misses can be told apart from the others'.
    metrics_dir = {"PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus" / name)}
    process = _gunicorn(
        f"users-web-{name}",
        "users_service",
        port,
        env={**stack.env, **metrics_dir, **variant.env},
        workdir=workdir,
        threads=threads,
        workers=workers,
        app=variant.app,
        extra_args=variant.gunicorn_args,
        product_config=variant.product_config,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(url + "/health/"), timeout=120, what=url)
    return url, process


def _lookups(url: str) -> tuple[float, float]:
    """(hits, misses) of the resources cache so far in the service at `url`; zeros for the bare app."""
    text = requests.get(url + "/metrics", timeout=10).text
    values = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line.startswith(("cache_hits", "cache_misses"))
    )
    return float(values.get(HITS, 0)), float(values.get(MISSES, 0))


def measure(url: str, pid: int, paths: list[str], token: str, seconds: int) -> dict[str, float]:
    before, lookups_before = cpu_seconds_of({"web": pid})["web"], _lookups(url)
    load = wrk(url, paths, token=token, seconds=seconds, connections=CONNECTIONS)
    after, lookups_after = cpu_seconds_of({"web": pid})["web"], _lookups(url)
    if load.errors:
        raise SystemExit(f"{url}: {load.errors} errors")
    return {
        "cpu_ms": (after - before) * 1000 / max(load.requests, 1),
        "requests_per_second": load.requests_per_second,
        "p50_ms": load.p50_ms,
        # Above zero when the cache was bypassed (a Redis timeout on a loaded machine): not all hits.
        "misses": lookups_after[1] - lookups_before[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in args.variants}
    with cache_stack(employees=EMPLOYEES, users_layout=USERS_LAYOUT) as stack:
        paths = [f"/api/users/{user_id}/resources/" for user_id in stack.user_ids]
        warm(stack, paths)
        servers = {}
        try:
            for name in args.variants:
                servers[name] = start(stack, name, VARIANTS[name])
                # Each worker validates the token once (through DRF) before it is measured.
                wrk(servers[name][0], paths, token=stack.users_token, seconds=1, connections=CONNECTIONS)
            for round_number in range(args.rounds):
                for name, (url, process) in servers.items():
                    runs[name].append(
                        measure(url, process.process.pid, paths, stack.users_token, args.seconds)
                    )
                    log(f"round {round_number + 1} {name}: {runs[name][-1]}")
        finally:
            for _, process in servers.values():
                process.stop()
    emit(
        {
            "tool": "hit_layers",
            "gunicorn": GUNICORN,
            "connections": CONNECTIONS,
            "seconds_each": args.seconds,
            "rounds": args.rounds,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "variants": {
                name: {
                    **{
                        figure: round(statistics.median(run[figure] for run in samples), 3)
                        for figure in ("cpu_ms", "requests_per_second", "p50_ms", "misses")
                    },
                    # The others' load on a shared machine only ever adds to a round's CPU.
                    "cpu_ms_least": round(min(run["cpu_ms"] for run in samples), 3),
                }
                for name, samples in runs.items()
            },
        }
    )


if __name__ == "__main__":
    main()
