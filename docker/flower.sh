#!/bin/bash
set -o errexit -o pipefail -o nounset

# Flower reads FLOWER_BASIC_AUTH (user:password) itself; refuse to start without it.
: "${FLOWER_BASIC_AUTH:?set FLOWER_BASIC_AUTH=user:password}"
exec celery -A users_service flower --port=5555 --address=0.0.0.0
