"""The SQS bridge: drain the event queue and fan each event out as Celery tasks on the broker.

In the order a message meets them: `received` (a typed view of an SQS message), `intake`
(SNS notification -> envelope), `routing` (envelope -> tasks), `fates` (what becomes of a
message), `poison_limit` (stop when the bridge itself looks broken), `batch` (one batch:
publish, record the hand-off, dead-letter, delete), `sqs_batch` (SQS calls, ten a time), `loops` (the receive
loops and their stop), `in_hand` (what a stop waits for). Beside them: `handoff` (the port to the
durable record of what the broker accepted), `celery_publisher`,
`heartbeat` (visibility of a slow batch), `dead_letters` (the DLQ message format), `dlq`
(browse/redrive/purge) and `stats`.
"""

from events.bridge.loops import Bridge, LoopOptions
from events.bridge.routing import Route, RoutingTable, TaskMessage, task_id_for
from events.bridge.stats import BridgeStats

__all__ = ["Bridge", "BridgeStats", "LoopOptions", "Route", "RoutingTable", "TaskMessage", "task_id_for"]
