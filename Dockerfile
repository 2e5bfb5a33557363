# One image for every GoChat process; its command picks which: `serve auth|user|ws|web`,
# `migrate`. Slim, non-root, and its third-party code comes only from requirements-runtime.lock.
#
#   docker build -t gochat .
#   docker run --rm gochat --help
#
# Built with BuildKit (docker compose's and docker build's default) and no frontend image,
# so it builds without reaching a container registry beyond the Python base image.
# requirements-runtime.lock is compiled for Python 3.11 (3.11.3 or later).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/gochat
# Only what runs (and setuptools, to build the project), each wheel checked against the lock's
# hashes; no source builds, no development tools. A private package index and a CA bundle
# for pip (a company proxy's) may come as the build secrets `pip_index_url` and `pip_ca`
# (README "Deploy"): mounted for this step alone, never written into any layer.
COPY requirements-runtime.lock ./
RUN --mount=type=secret,id=pip_index_url,required=false \
    --mount=type=secret,id=pip_ca,required=false \
    if [ -s /run/secrets/pip_index_url ]; then \
        PIP_INDEX_URL="$(cat /run/secrets/pip_index_url)"; export PIP_INDEX_URL; \
    fi \
    && if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && /opt/gochat/bin/pip install --quiet --require-hashes --no-deps --only-binary=:all: \
        --requirement requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY auth_service ./auth_service
COPY user_service ./user_service
COPY ws_service ./ws_service
COPY gochat ./gochat
COPY migrations ./migrations
RUN /opt/gochat/bin/pip install --quiet --no-deps --no-index --no-build-isolation . \
    && /opt/gochat/bin/pip uninstall --quiet --yes pip setuptools

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
# Nothing is written at run time: keys come as files (secrets, readable by uid 10001), state
# lives in PostgreSQL and Redis, logs go to stderr as JSON lines.
WORKDIR /opt/gochat
USER 10001:10001
EXPOSE 8000
# uvicorn drains in-flight requests for up to 10 s on SIGTERM (give it 15 s to stop).
STOPSIGNAL SIGTERM
ENTRYPOINT ["gochat"]
CMD ["--help"]
