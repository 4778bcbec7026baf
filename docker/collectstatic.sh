#!/bin/bash
# Run once while the image is built (the running containers' root filesystem is read-only): each
# service's static files into its STATIC_ROOT under VAR_DIR, which whitenoise then serves.
set -o errexit -o pipefail -o nounset

# Collecting imports the settings, which refuse to start without a secret key; these never serve.
export HR_SECRET_KEY="${HR_SECRET_KEY:-collectstatic-only}"
export USERS_SECRET_KEY="${USERS_SECRET_KEY:-collectstatic-only}"
python manage.py hr collectstatic --noinput --verbosity 0
exec python manage.py users collectstatic --noinput --verbosity 0
