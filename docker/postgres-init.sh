#!/bin/bash
# Run once by the postgres image on an empty volume: one database per service on one server, each
# owned by a login role of the same name whose password is <NAME>_DATABASE_PASSWORD (HR_…, USERS_…).
# A service connects as its own role: it can use and migrate its database and nothing else, not the
# other service's (CONNECT is revoked from PUBLIC) and not the server (no superuser, no CREATEDB).
set -o errexit -o pipefail -o nounset

for database in ${POSTGRES_MULTIPLE_DATABASES//,/ }; do
    password_variable="${database^^}_DATABASE_PASSWORD"
    # psql variables (:"role", :'password') quote the name and the password, whatever they hold.
    psql --username "$POSTGRES_USER" --dbname postgres -v ON_ERROR_STOP=1 \
        -v role="$database" -v password="${!password_variable}" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
