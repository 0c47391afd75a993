# The app and its worker in one container, installed the same way as the README's first command.
# BASE_IMAGE: only for machines that cannot pull it (scripts/compose_check.sh passes a local stand-in).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# An index for a CPU-only torch build can be given at build time so pip never pulls CUDA wheels. An ARG,
# not an ENV: RUN steps see it, and the finished image does not keep a build machine's address.
ARG PIP_EXTRA_INDEX_URL=""
ENV PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    DATA_DIR=/data \
    PORT=8501

# /models: docker-compose.yml's shared model volume. A new named volume takes the owner of the image's
# folder at its mount point, so the app user can write it.
RUN useradd --create-home --uid 1000 app \
    && mkdir -p /app /data /models && chown app:app /app /data /models
WORKDIR /app
USER app

# Dependencies first, in a layer of their own, through the same script run.sh uses.
COPY --chown=app:app requirements.txt constraints.txt ./
COPY --chown=app:app scripts/install.sh scripts/install.sh
RUN scripts/install.sh
COPY --chown=app:app . .

VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD .venv/bin/python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).status != 200)"
# run.sh execs Streamlit, so it is PID 1 and gets `docker stop`'s SIGTERM; it stops its worker within
# a few seconds, before Docker's 10 s grace period ends and everything left is killed.
CMD ["./run.sh"]
