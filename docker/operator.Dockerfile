# mp4mp3 operator: the Kopf operator that runs each ConversionJob as a batch/v1 Job.
# Health/liveness on port 8080 (/healthz). The converter's Jobs use converter.Dockerfile's image.
# Build from the repository root: docker build -f docker/operator.Dockerfile -t mp4mp3/operator:dev .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: every dependency as a wheel, pinned by constraints.txt, then installed into a venv ---
FROM ${PYTHON_IMAGE} AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml constraints.txt ./
# Every image's dependencies as wheels: this layer is the same in all five images (the builder
# reuses it) and outlives changes to the code.
RUN python -c "import tomllib; \
print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > all.txt \
    && pip wheel --wheel-dir /wheels -c constraints.txt -r all.txt
# The venv: only what this image's service imports (pyproject.toml, [tool.mp4mp3.images]);
# not the kubernetes client's asyncio copy (kubernetes/aio, 68 MB), which nothing here imports
RUN python -c "import tomllib; \
print(*tomllib.load(open('pyproject.toml', 'rb'))['tool']['mp4mp3']['images']['operator'], sep='\n')" > requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels -c constraints.txt -r requirements.txt \
    && rm -rf /opt/venv/lib/python3.11/site-packages/kubernetes/aio
# only the packages this image runs: the wheel of the project holds just these
COPY common/ common/
COPY conversion_operator/ conversion_operator/
# pip and setuptools only build: they stay out of the final image
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall -q -y pip setuptools

# --- final: the venv on a clean base, no compilers, an unprivileged numeric user ---
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 mp4mp3 \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin mp4mp3
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 OPERATOR_HEALTH_PORT=8080
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["python", "-m", "conversion_operator"]
