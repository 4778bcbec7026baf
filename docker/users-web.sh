#!/bin/bash
set -o errexit -o pipefail -o nounset

exec docker/web.sh users_service users 8001
