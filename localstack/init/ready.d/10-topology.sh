#!/bin/bash
# LocalStack runs ready.d scripts once SNS/SQS answer. The topology (topic, queue, DLQ with
# redrive, subscription) is created by the project's own events/topology.py, mounted read-only
# at /opt/hr-events, so compose gets exactly the names and policies of the embedded stack.
set -o errexit -o pipefail -o nounset

export PYTHONPATH="${HR_EVENTS_PATH:-/opt/hr-events}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://localhost:4566}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
exec "${LOCALSTACK_PYTHON:-/opt/code/localstack/.venv/bin/python}" -m events.topology
