# syntax=docker/dockerfile:1
# One image for every GoChat process; its command picks which: `serve auth|user|ws|web`,
# `migrate`. Slim, non-root, and its third-party code comes only from requirements.lock.
#
#   docker build -t gochat .
#   docker run --rm gochat --help
#
# requirements.lock is compiled for Python 3.11 (some wheels are per Python version).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Every wheel the lock names, each checked against the lock's hashes; no source builds.
COPY requirements.lock ./
RUN pip download --require-hashes --no-deps --only-binary=:all: \
        --dest /wheels --requirement requirements.lock
# The lock also pins the development tools. Installing the project from that wheelhouse
# alone, with no index, takes exactly what it needs at run time, at the locked versions.
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY auth_service ./auth_service
COPY user_service ./user_service
COPY ws_service ./ws_service
COPY gochat ./gochat
COPY migrations ./migrations
RUN python -m venv /opt/gochat \
    && /opt/gochat/bin/pip install --no-index --find-links /wheels . \
    && /opt/gochat/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 gochat \
    && useradd --system --uid 10001 --gid gochat --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin gochat
COPY --from=build /opt/gochat /opt/gochat
ENV PATH=/opt/gochat/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GOCHAT_ENV=production \
    GOCHAT_HOST=0.0.0.0 \
    GOCHAT_PORT=8000
# Nothing is written at run time: keys come as files (secrets), state lives in PostgreSQL
# and Redis, logs go to stderr as JSON lines.
WORKDIR /opt/gochat
USER 10001:10001
EXPOSE 8000
# uvicorn drains in-flight requests for up to 10 s on SIGTERM (give it 15 s to stop).
STOPSIGNAL SIGTERM
ENTRYPOINT ["gochat"]
CMD ["--help"]
