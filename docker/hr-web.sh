#!/bin/bash
set -o errexit -o pipefail -o nounset

# Workers, threads and timeouts: docker/gunicorn.conf.py (WEB_CONCURRENCY, WEB_THREADS). No control
# socket: it would be created under $HOME, which the read-only image cannot write.
exec gunicorn hr_monolith.wsgi:application \
    --config docker/gunicorn.conf.py \
    --bind 0.0.0.0:8000 \
    --no-control-socket
