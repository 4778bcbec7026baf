#!/bin/bash
set -o errexit -o pipefail -o nounset

# Threads come from BRIDGE_THREADS; run more containers for more bridges (SQS hands each message to one).
exec python manage.py users run_bridge
