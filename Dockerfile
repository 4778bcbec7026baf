# One image for every process of both services (see docker-compose.yml and docker/).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var

WORKDIR /app

# Requirements first: the layer is reused until requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
COPY --chown=app:app . .
RUN chmod 0755 docker/*.sh && mkdir -p /app/var && chown app:app /app/var

USER app
EXPOSE 8000 8001 5555
CMD ["docker/hr-web.sh"]
