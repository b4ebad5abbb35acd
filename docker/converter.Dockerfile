# mp4mp3 converter: the container of each ConversionJob's batch/v1 Job (python -m converter_job).
# The only image with ffmpeg/ffprobe (Debian's, with LAME) and the optional moviepy engine.
# A Job runs to completion, so there is no HEALTHCHECK; progress goes into the ConversionJob's status.
# Build from the repository root: docker build -f docker/converter.Dockerfile -t mp4mp3/converter:dev .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: every dependency as a wheel, pinned by constraints.txt, then installed into a venv ---
FROM ${PYTHON_IMAGE} AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml constraints.txt ./
# only the packages this image runs: the wheel of the project holds just these
COPY common/ common/
COPY converter_job/ converter_job/
RUN pip wheel --wheel-dir /wheels -c constraints.txt ".[moviepy]" \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels "mp4mp3[moviepy]"

# --- final: ffmpeg from Debian, the venv, an unprivileged numeric user ---
FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mp4mp3 \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin mp4mp3
COPY --from=builder /opt/venv /opt/venv
# moviepy (through imageio-ffmpeg) uses the same Debian ffmpeg as the default engine
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    IMAGEIO_FFMPEG_EXE=/usr/bin/ffmpeg CONVERTER_FFMPEG=/usr/bin/ffmpeg CONVERTER_FFPROBE=/usr/bin/ffprobe
USER 10001:10001
CMD ["python", "-m", "converter_job"]
