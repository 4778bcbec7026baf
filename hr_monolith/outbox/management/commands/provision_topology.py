"""`manage.py hr provision_topology`: create or update the SNS topic, the SQS queue, its DLQ and the
subscription (events/topology.py), idempotently.

Run once per deployment by whoever may create them: the LocalStack init script does the same for
compose, an operator or the infrastructure's tooling does it on AWS. The relay and the bridge only
look the topology up; their IAM policies (docs/aws/) grant no Create*/Set* action.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from events.aws import AWS_CALL_ERRORS, AwsSettings, client
from events.topology import TopologyNames, ensure_topology


class Command(BaseCommand):
    help = "Create or update the SNS topic, SQS queue, DLQ and subscription named by the environment."

    def handle(self, *args, **options):
        aws = AwsSettings.from_env()
        names = TopologyNames.from_env()
        try:
            topology = ensure_topology(client("sns", aws), client("sqs", aws), names)
        except AWS_CALL_ERRORS as exc:
            raise CommandError(f"provisioning failed: {exc}") from exc
        self.stdout.write(f"topic {topology.topic_arn}")
        self.stdout.write(
            f"queue {topology.queue_url} (DLQ {topology.dlq_url}, after {names.max_receive_count} receives)"
        )
        self.stdout.write(f"subscription {topology.subscription_arn}")
