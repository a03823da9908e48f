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
COPY pyproject.toml README.md LICENSE /src/
COPY bluegreen /src/bluegreen
# Trim what never loads (checked by running a release, a rollback and status and reading sys.modules;
# .ci/image-test.sh proves the trimmed image still does all three): the client's asyncio variant
# (kubernetes/aio, ~41 MB) and the aiohttp stack only it imports (~13 MB), and the generated API classes
# (kubernetes/client/api, ~23 MB), which kubernetes>=37 loads lazily and bluegreen never touches: it
# calls the REST API through ApiClient directly. Then precompile everything that remains except the typed
# models, which load lazily one by one and never on our path; their package __init__ loads every start.
RUN /opt/bluegreen/bin/python -m pip install --no-cache-dir --no-deps /src \
 && /opt/bluegreen/bin/python -m pip uninstall --yes \
      aiohttp aiohttp-retry aiohappyeyeballs aiosignal frozenlist multidict propcache yarl \
 && /opt/bluegreen/bin/python -m pip uninstall --yes pip setuptools \
 && site=$(/opt/bluegreen/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
 && rm -rf "$site/kubernetes/aio" "$site/kubernetes/client/api" \
 && find /opt/bluegreen -name __pycache__ -type d -prune -exec rm -rf {} + \
 && /opt/bluegreen/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
      -x '/kubernetes/client/models/(?!__init__\.py$)' /opt/bluegreen/lib

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/bluegreen/bin:$PATH
COPY --from=build /opt/bluegreen /opt/bluegreen
COPY entrypoint.py /opt/bluegreen/entrypoint.py
# Exec form, no shell: a shell would drop the runner's INPUT_ variables whose names contain hyphens.
ENTRYPOINT ["/opt/bluegreen/bin/python", "/opt/bluegreen/entrypoint.py"]
