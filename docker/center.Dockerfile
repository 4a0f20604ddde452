# ParkGuard control center image (API, live feed, console, MQTT ingest). Runtime only: no test,
# dev or training packages. No secret inside: the database and MQTT passwords come from the
# environment (database.password_env, mqtt.password_env) or secret files (database.password_file).
#   docker build -f docker/center.Dockerfile -t parkguard-center .
#   docker run -v ./center.yaml:/etc/parkguard/center.yaml:ro -e PARKGUARD_DB_PASSWORD=… parkguard-center
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY protocol ./protocol
COPY common ./common
COPY edge ./edge
COPY center ./center
RUN python -m venv /opt/venv && /opt/venv/bin/pip install ".[postgres]"

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
# the reports (PDF): WeasyPrint renders with pango; Chinese text and chart labels need a CJK font
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
# the face and person models that blur faces in the reports' evidence thumbnails (reports.face_manifest)
COPY models/manifest.yaml models/coco80.txt models/nanodet-coco-416.onnx models/blazeface.onnx /opt/parkguard/models/
COPY models/LICENSES /opt/parkguard/models/LICENSES
# a fixed uid: volumes (evidence shared by the replicas) keep the same owner in every container
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/parkguard --shell /usr/sbin/nologin parkguard \
    && mkdir -p /etc/parkguard /var/lib/parkguard/evidence /var/lib/parkguard/broker-auth \
    && chown -R parkguard:parkguard /var/lib/parkguard
USER parkguard
WORKDIR /var/lib/parkguard
EXPOSE 8080
# alive: the database answers (/api/ready also wants the schema migrated: for a load balancer)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=4)"]
CMD ["parkguard-center", "serve", "--config", "/etc/parkguard/center.yaml"]
