# syntax=docker/dockerfile:1
# One image, two roles: `vidpipe serve` (default) and `vidpipe worker` (ECS sets the command).
# Built by `cdk deploy` from the repo root (infra/vidpipe_infra/service.py); .dockerignore is an allow-list.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vidpipe ./vidpipe
RUN pip install . && pip check

FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="vidpipe" \
      org.opencontainers.image.description="vidpipe media pipeline: API and workers"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIDPIPE_DATA_DIR=/tmp/vidpipe \
    VIDPIPE_API_HOST=0.0.0.0 \
    VIDPIPE_API_PORT=8000
# Fixed uid/gid 10001: the EFS access point (infra/vidpipe_infra/config.py) writes as this user.
RUN groupadd --system --gid 10001 vidpipe \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/vidpipe --create-home --shell /usr/sbin/nologin vidpipe \
 && mkdir -p /mnt/scratch \
 && chown 10001:10001 /mnt/scratch
COPY --from=build /opt/venv /opt/venv
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
