#!/bin/bash
set -o errexit -o pipefail -o nounset

# gunicorn reads WEB_CONCURRENCY for its worker count. No control socket: it would be created under
# $HOME, which the read-only image cannot write, and nothing here uses gunicornc.
exec gunicorn users_service.wsgi:application \
    --bind 0.0.0.0:8001 \
    --access-logfile - \
    --no-control-socket \
    --graceful-timeout 20
