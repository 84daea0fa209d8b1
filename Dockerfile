# syntax=docker/dockerfile:1
# One image, three roles: `vidpipe serve` (default), `vidpipe worker` and `vidpipe consume-kinesis` (ECS sets
# the command). Built and pushed to the stack's ECR repository as docs/deploy.md describes; .dockerignore is an
# allow-list. Stages: deps (locked, hashed dependencies: the big cached layer) -> models (optional weights)
# -> app (the vidpipe package only) -> runtime.

# python:3.11-slim pinned by the digest of its multi-arch index: a rebuild gets the same base. Not verified from
# the machine that wrote it (no registry access there); public projects record this digest as python:3.11-slim
# (3.11.16, Debian 13 trixie) of August 2026. Verify before the first build (docs/deploy.md, The image).
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Every dependency, including the `ml` extra and CPU-only torch, exactly as locked (with hashes). This layer
# changes only when requirements/lock-image.txt does, so code changes rebuild in seconds.
# The lock's torch is the +cpu build, which only the PyTorch CPU wheel index serves.
COPY requirements/lock-image.txt /tmp/lock-image.txt
RUN pip install --require-hashes --no-deps \
      --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/lock-image.txt \
 && pip check

FROM deps AS models
# Optional weights baked in, so a deployment gets visual/audio search without a download at run time:
#   docker build --build-arg VIDPIPE_MODELS=clip,clap,whisper ...
# (the text model ships inside its package and is always there). Stored in the Hugging Face cache under
# HF_HOME; the runtime sets HF_HUB_OFFLINE=1, so a missing model fails fast instead of downloading.
ARG VIDPIPE_MODELS=""
ARG CLIP_MODEL=openai/clip-vit-base-patch32
ARG CLAP_MODEL=laion/clap-htsat-unfused
ARG WHISPER_MODEL=Systran/faster-whisper-small
ENV HF_HOME=/opt/models/hf
RUN mkdir -p /opt/models/hf && python - <<'PY'
import os

from huggingface_hub import snapshot_download

wanted = {name.strip() for name in os.environ.get("VIDPIPE_MODELS", "").split(",") if name.strip()}
sources = {"clip": os.environ["CLIP_MODEL"], "clap": os.environ["CLAP_MODEL"], "whisper": os.environ["WHISPER_MODEL"]}
unknown = wanted - set(sources)
if unknown:
    raise SystemExit(f"VIDPIPE_MODELS: unknown {sorted(unknown)}; choose from {sorted(sources)}")
for name in sorted(wanted):
    snapshot_download(sources[name], allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model", "*.bin"])
    print(f"baked {name}: {sources[name]}")
PY

FROM deps AS app
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vidpipe ./vidpipe
# Dependencies are already in place (and checked): build only the package itself.
RUN pip install --no-deps --no-build-isolation . && pip check

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="vidpipe" \
      org.opencontainers.image.description="vidpipe media pipeline: API, workers and Kinesis consumer"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HOME=/opt/models/hf \
    HF_HUB_OFFLINE=1 \
    VIDPIPE_DATA_DIR=/tmp/vidpipe \
    VIDPIPE_API_HOST=0.0.0.0 \
    VIDPIPE_API_PORT=8000
# Fixed uid/gid 10001: the EFS access point (infra/vidpipe_infra/config.py) writes as this user.
RUN groupadd --system --gid 10001 vidpipe \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/vidpipe --create-home --shell /usr/sbin/nologin vidpipe \
 && mkdir -p /mnt/scratch \
 && chown 10001:10001 /mnt/scratch
COPY --from=app /opt/venv /opt/venv
COPY --from=models /opt/models /opt/models
# The root file system is read-only in ECS; /tmp is a task volume that inherits this mode (1777).
VOLUME ["/tmp"]
USER 10001:10001
WORKDIR /home/vidpipe
EXPOSE 8000
# For the API. ECS ignores it (the task definitions carry their own checks); under plain Docker, run
# workers with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
ENTRYPOINT ["vidpipe"]
CMD ["serve"]
