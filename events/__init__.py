"""The event contract and the transport both services use (docs/events-package.md).

Pure Python (no Django): event types, the envelope and its JSON Schemas, the SNS
publisher, the backoff policy, boto3 clients and the SNS/SQS topology; the SQS -> Celery
bridge is the sub-package `events.bridge`.
"""
