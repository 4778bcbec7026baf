#!/bin/bash
set -o errexit -o pipefail -o nounset

exec docker/web.sh hr_monolith hr 8000
