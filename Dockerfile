# One image for every process of both services; docker-compose.yml runs each through docker/<name>.sh.
ARG PYTHON_IMAGE=python:3.11.16-slim-trixie

# Build stage: the runtime lock file only (no test, lint or benchmark tools), every file checked
# against its hash, wheels only (the slim image has no compiler), into a venv copied whole below.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements.txt

FROM ${PYTHON_IMAGE}
# Nothing writes bytecode at run time (compose mounts the root filesystem read-only): the venv's is
# compiled by pip and the code's below, at build time.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    VAR_DIR=/app/var

RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The code stays root's: the app user can read and run it, never change it.
COPY . .
RUN chmod 0755 docker/*.sh && python -m compileall -q events hr_monolith users_service docker manage.py
# Each service's Prometheus multiprocess directory (a volume in compose, shared by the service's
# containers): owned by the app user, which a fresh named volume copies from the image.
RUN mkdir -p var/prometheus/hr var/prometheus/users && chown -R app:app var
# Static files of both services under VAR_DIR (root's, like the code), served by whitenoise.
RUN docker/collectstatic.sh

USER app
EXPOSE 8000 8001 5555
CMD ["docker/hr-web.sh"]
