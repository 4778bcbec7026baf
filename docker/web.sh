#!/bin/bash
# The web process of one service: docker/web.sh <package> <service> <port> (docker/hr-web.sh,
# docker/users-web.sh).
set -o errexit -o pipefail -o nounset

package="$1" service="$2" port="$3"
# The service's metrics directory, known to the master too: its child_exit hook
# (docker/gunicorn.conf.py) tells prometheus_client when a worker is gone.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${VAR_DIR}/prometheus/${service}}"
# Workers, threads and timeouts: docker/gunicorn.conf.py (WEB_CONCURRENCY, WEB_THREADS). No control
# socket: it would be created under $HOME, which the read-only image cannot write.
exec gunicorn "${package}.wsgi:application" \
    --config docker/gunicorn.conf.py \
    --bind "0.0.0.0:${port}" \
    --no-control-socket
