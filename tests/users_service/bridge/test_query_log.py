"""The bridge is a long-running process, not a request: with DEBUG on (development, the benches)
Django logs every query of a connection until a request ends (up to 9,000 per connection), so the
bridge's receive loops and its sweeper forget them at each turn, as a request's end would."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from events.liveness import Liveness
from users_service.bridge import handoff
from users_service.bridge.models import HandOff
from users_service.bridge.wiring import loop_turn


@pytest.mark.django_db
def test_each_receive_loop_turn_forgets_the_logged_queries(settings, tmp_path):
    settings.DEBUG = True
    HandOff.objects.count()
    assert len(connection.queries_log) > 0
    liveness = tmp_path / "alive"

    loop_turn(Liveness(liveness))()

    assert len(connection.queries_log) == 0
    assert liveness.exists()


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_forgets_the_logged_queries_after_each_sweep(settings, monkeypatch, celery_broker):
    settings.DEBUG = True
    settings.HANDOFF_SWEEP_SECONDS = 0.01
    stop = threading.Event()
    logged_before: list[int] = []
    real_sweep = handoff.handoff_sweep

    def sweep_and_look(**kwargs):
        logged_before.append(len(connection.queries_log))  # in the sweeper's thread, its connection
        outcome = real_sweep(**kwargs)
        if len(logged_before) == 3:
            stop.set()
        return outcome

    monkeypatch.setattr(handoff, "handoff_sweep", sweep_and_look)
    sweeper = threading.Thread(target=handoff.sweep_until, args=(stop,), kwargs={"publisher": None})
    sweeper.start()
    sweeper.join(30)

    assert not sweeper.is_alive()
    assert logged_before == [0, 0, 0]
