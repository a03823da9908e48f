# bluegreen: one image for the GitHub Action and for any other CI runner.
# BASE_IMAGE is any Debian-like image with python3 and its venv module (CI builds from a local one).
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
# Set only when the builder's machine reaches PyPI through a mirror or its own CA bundle.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# A venv, so Debian's "externally managed" rule doesn't apply and the runtime stage copies one folder.
RUN python3 -m venv /opt/bluegreen
COPY requirements.txt /src/
RUN /opt/bluegreen/bin/python -m pip install --no-cache-dir -r /src/requirements.txt
COPY pyproject.toml README.md /src/
COPY bluegreen /src/bluegreen
RUN /opt/bluegreen/bin/python -m pip install --no-cache-dir --no-deps /src \
 && /opt/bluegreen/bin/python -m pip uninstall --yes pip setuptools \
 && find /opt/bluegreen -name __pycache__ -type d -prune -exec rm -rf {} + \
 && /opt/bluegreen/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
      -x '/kubernetes/(aio|client/models|client/api)/' /opt/bluegreen/lib

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/bluegreen/bin:$PATH
COPY --from=build /opt/bluegreen /opt/bluegreen
COPY entrypoint.py /opt/bluegreen/entrypoint.py
# Exec form, no shell: a shell would drop the runner's INPUT_ variables whose names contain hyphens.
ENTRYPOINT ["/opt/bluegreen/bin/python", "/opt/bluegreen/entrypoint.py"]
