#!/bin/bash
set -o errexit -o pipefail -o nounset

exec python manage.py hr relay_outbox
