#!/bin/bash
set -o errexit -o pipefail -o nounset

# The service's metrics directory, known to the master too: its child_exit hook
# (docker/gunicorn.conf.py) tells prometheus_client when a worker is gone.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${VAR_DIR}/prometheus/hr}"
# Workers, threads and timeouts: docker/gunicorn.conf.py (WEB_CONCURRENCY, WEB_THREADS). No control
# socket: it would be created under $HOME, which the read-only image cannot write.
exec gunicorn hr_monolith.wsgi:application \
    --config docker/gunicorn.conf.py \
    --bind 0.0.0.0:8000 \
    --no-control-socket
