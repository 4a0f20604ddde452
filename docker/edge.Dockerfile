# ParkGuard edge node image, slim: the runtime install (ONNX Runtime; FFmpeg's libraries come
# inside the PyAV and OpenCV wheels), the default models; no test, dev or training packages,
# no sample footage (compose mounts it). No secret inside: the MQTT password and the center
# token come from the environment (mqtt.password_env, center.token_env).
#   docker build -f docker/edge.Dockerfile -t parkguard-edge .
#   docker run -v ./edge.yaml:/etc/parkguard/edge.yaml:ro -v pg-edge:/var/lib/parkguard parkguard-edge
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY protocol ./protocol
COPY common ./common
COPY edge ./edge
COPY center ./center
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
# espeak-ng speaks the on-site warnings (现场提醒, Mandarin voice cmn), aplay (alsa-utils) plays them
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng alsa-utils \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
# the models the default config names: the manifest, the ONNX files, the labels, their licences
COPY models/manifest.yaml models/coco80.txt models/nanodet-coco-416.onnx models/movenet-multipose.onnx \
     models/blazeface.onnx models/ppe-classifier.onnx /opt/parkguard/models/
COPY models/LICENSES /opt/parkguard/models/LICENSES
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/parkguard --shell /usr/sbin/nologin parkguard \
    && mkdir -p /etc/parkguard /var/lib/parkguard/state /var/lib/parkguard/evidence \
    && chown -R parkguard:parkguard /var/lib/parkguard
USER parkguard
WORKDIR /var/lib/parkguard
# /healthz beside /metrics (metrics_port, 127.0.0.1): 503 once the node's main loop stalls
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
# as the systemd unit does: the config and its models checked, then the node
CMD ["sh", "-c", "parkguard-edge check --config /etc/parkguard/edge.yaml && exec parkguard-edge run --config /etc/parkguard/edge.yaml"]
