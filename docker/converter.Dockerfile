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
# Every image's dependencies as wheels: this layer is the same in all five images (the builder
# reuses it) and outlives changes to the code.
RUN python -c "import tomllib; \
print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > all.txt \
    && pip wheel --wheel-dir /wheels -c constraints.txt -r all.txt
# the optional moviepy engine (numpy, imageio, pillow): the converter's alone
RUN python -c "import tomllib; \
print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['moviepy'], sep='\n')" > moviepy.txt \
    && pip wheel --wheel-dir /wheels -c constraints.txt -r moviepy.txt
# The venv: only what this image's service imports (pyproject.toml, [tool.mp4mp3.images])
RUN python -c "import tomllib; \
print(*tomllib.load(open('pyproject.toml', 'rb'))['tool']['mp4mp3']['images']['converter'], sep='\n')" > requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels -c constraints.txt -r requirements.txt \
    && rm -rf /opt/venv/lib/python3.11/site-packages/imageio_ffmpeg/binaries/ffmpeg-*
# only the packages this image runs: the wheel of the project holds just these
COPY common/ common/
COPY converter_job/ converter_job/
# pip and setuptools only build: they stay out of the final image
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall -q -y pip setuptools

# --- final: ffmpeg from Debian, the venv, an unprivileged numeric user ---
# ffmpeg's SDL2 (for ffplay-style output) pulls Mesa's GL drivers and with them LLVM: ~175 MB that a
# converter, which never draws, does not load. They go in the same layer they came in.
FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && dpkg --purge --force-depends libgl1-mesa-dri libglx-mesa0 libllvm15 libz3-4 xkb-data \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && groupadd --system --gid 10001 mp4mp3 \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin mp4mp3
COPY --from=builder /opt/venv /opt/venv
# moviepy (through imageio-ffmpeg) uses the same Debian ffmpeg as the default engine
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    IMAGEIO_FFMPEG_EXE=/usr/bin/ffmpeg CONVERTER_FFMPEG=/usr/bin/ffmpeg CONVERTER_FFPROBE=/usr/bin/ffprobe
USER 10001:10001
CMD ["python", "-m", "converter_job"]
