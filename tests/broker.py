"""What the broker shows of a worker's tasks: the ones it holds (reserved, not acked yet)."""

from __future__ import annotations

import redis


def holds_task(broker: redis.Redis, unacked_key: str, task_id: str) -> bool:
    """Whether a worker holds task `task_id`: its message waits in the worker's unacked hash
    (`unacked_key`, a queue role's transport option) from its reservation until its ack."""
    needle = f'"{task_id}"'.encode()
    return any(needle in message for message in broker.hvals(unacked_key))
