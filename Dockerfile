# crisis-tracker API. Every command here is also run by .ci/run on a non-editable install.

# The world map's country boundaries (Natural Earth, from the npm package world-atlas).
FROM node:20-slim AS boundaries
WORKDIR /build
COPY app/dashboard/package.json app/dashboard/package-lock.json ./app/dashboard/
RUN npm ci --prefix app/dashboard

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TRACKER_DATA_DIR=/var/lib/crisis-tracker

WORKDIR /srv/crisis-tracker
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY --from=boundaries /build/app/dashboard/node_modules ./app/dashboard/node_modules
COPY migrations ./migrations
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home tracker \
    && mkdir -p "$TRACKER_DATA_DIR" \
    && chown tracker "$TRACKER_DATA_DIR"

USER tracker
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

# Set TRACKER_DATABASE_URL=postgresql+psycopg://... for production; unset, an SQLite file
# in TRACKER_DATA_DIR is used (mount a volume there to keep it). TRACKER_DATA_DIR is set
# above because the tracker user has no home, hence no user data directory, and every
# command here (the upgrade below, `docker exec ... crisis-tracker users create`) must find
# the same file.
CMD ["sh", "-c", "crisis-tracker db upgrade && exec crisis-tracker serve --host 0.0.0.0 --port 8000 --workers ${TRACKER_WORKERS:-2}"]
