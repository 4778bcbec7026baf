#!/bin/bash
# Run once by the postgres image on an empty volume: one database per service, one server.
set -o errexit -o pipefail -o nounset

for database in ${POSTGRES_MULTIPLE_DATABASES//,/ }; do
    psql --username "$POSTGRES_USER" --dbname postgres -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE \"$database\""
done
