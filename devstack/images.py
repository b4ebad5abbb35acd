"""The project's images, built here from docker/*.Dockerfile with buildah and loaded into the
devstack's containerd: no Docker engine, no registry (``python -m devstack images``).

Every image is tagged by a digest of its inputs, so an unchanged one is neither rebuilt nor
re-imported: the base image (Debian bookworm's Python 3.11, made by devstack/base-image.sh) by
the script and the host settings it copies in; a service's by its Dockerfile, the files it
COPYs and the base image it starts from.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.config import ROOT, Config
from devstack.process import wait_until

SERVICES = ("auth", "gateway", "operator", "notification", "converter")
DOCKER = ROOT / "docker"
BASE_SCRIPT = ROOT / "devstack" / "base-image.sh"
BASE_REPO = "localhost/mp4mp3/python"
BASE_TAG = "3.11-bookworm"
SERVICE_REPO = "localhost/mp4mp3"
# crun (buildah's default here) fails on this machine's hybrid cgroups; runc works
RUNTIME = "/usr/sbin/runc"
# host settings the base image copies in (besides host_inputs()): a change is a change of the image
# apt settings on reaching the mirror (proxy, TLS, snapshot validity), as base-image.sh greps them
APT_NETWORK = r"^Acquire::(https?::|Check-Valid-Until|Check-Date|Retries)"
HOST_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT", "SSL_CERT_FILE")
NAMESPACE = "k8s.io"  # the containerd namespace the kubelet's CRI plugin reads


@dataclass
class Image:
    """One image as `ensure_images` left it, with what it cost."""

    name: str
    ref: str
    size: int = 0  # bytes, uncompressed; measured only when build_all echoes
    build_seconds: float = 0.0  # 0 when the tag already existed
    import_seconds: float = 0.0  # 0 when containerd already had it (or was not asked)


class ImageError(RuntimeError):
    """A build or an import failed; the message says which image and why."""


def ensure_images(cfg: Config, *, load: bool = True) -> dict[str, str]:
    """Build what is missing, import into containerd what it lacks; {service: image ref}."""
    return {image.name: image.ref for image in build_all(cfg, load=load) if image.name in SERVICES}


def build_all(cfg: Config, *, load: bool = True, echo: bool = False, sizes: bool = True) -> list[Image]:
    """The base image, then every service's; each imported into containerd when `load`."""
    if load and not cfg.containerd_socket.exists():
        raise ImageError(f"containerd is not running (no socket at {cfg.containerd_socket}): start the node")
    base = ensure_base(cfg, echo=echo)
    images = [base]
    for service in SERVICES:
        image = ensure_service(cfg, service, base.ref, echo=echo)
        if load:
            image.import_seconds = ensure_imported(cfg, image.ref, echo=echo)
        images.append(image)
    if echo and sizes:  # sizes for the report; `make up` needs only the refs
        for image in images:
            image.size = size(cfg, image.ref)
    return images


# --- base image ---------------------------------------------------------------------------------


def ensure_base(cfg: Config, *, echo: bool = False) -> Image:
    """localhost/mp4mp3/python:3.11-bookworm-<digest>, made once per machine (debootstrap ≈ 160 s)."""
    digest = base_digest()
    ref = f"{BASE_REPO}:{BASE_TAG}-{digest}"
    image = Image("base", ref)
    with building(cfg):
        if not exists(cfg, ref):
            build_base(cfg, image, digest, echo=echo)
    buildah(cfg, "tag", ref, f"{BASE_REPO}:{BASE_TAG}")
    return image


def build_base(cfg: Config, image: Image, digest: str, *, echo: bool) -> None:
    started = time.monotonic()
    _say(echo, f"base image {image.ref}: debootstrap of bookworm (a few minutes, once per machine)")
    tarball = base_rootfs(cfg, digest)
    commit_rootfs(cfg, tarball, image.ref)
    tarball.unlink()  # the image holds it now; the tarball would only double the disk use
    image.build_seconds = time.monotonic() - started
    untag_older(cfg, image.ref, keep=f"{BASE_REPO}:{BASE_TAG}")


def base_digest() -> str:
    """The script (its package list inside) and the host settings it copies into the image."""
    h = hashlib.sha256(BASE_SCRIPT.read_bytes())
    for path in host_inputs():
        h.update(str(path).encode() + b"\0" + path.read_bytes())
    ca = Path(host_ca_bundle())
    if ca.is_file():
        h.update(ca.read_bytes())
    for key in HOST_ENV:
        h.update(f"{key}={_env(key)}".encode())
    return h.hexdigest()[:12]


def host_inputs(etc: Path = Path("/etc")) -> list[Path]:
    """The host's files that base-image.sh copies into the image (keep the two in step): apt's
    sources, apt settings on how to reach them, pip's config. Nothing else of /etc counts."""
    apt = etc / "apt"
    sources = apt / "sources.list.d"
    files = [apt / "sources.list", *sorted(sources.glob("*.list")), *sorted(sources.glob("*.sources"))]
    for path in sorted((apt / "apt.conf.d").glob("*")):
        if path.is_file() and re.search(APT_NETWORK, path.read_text(errors="replace"), re.M):
            files.append(path)
    return [path for path in [*files, etc / "pip.conf"] if path.is_file()]


def host_mirror(apt: Path = Path("/etc/apt")) -> str:
    """The host's Debian mirror: the first bookworm `deb` source in /etc/apt (deb822 or one-line)."""
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            types, suites = fields.get("Types", "").split(), fields.get("Suites", "").split()
            if "deb" in types and "bookworm" in suites and fields.get("Enabled", "yes") != "no":
                return fields["URIs"].split()[0]
    lists = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in (p for p in lists if p.is_file()):
        for line in path.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == "bookworm":
                return words[1]
    raise ImageError("no bookworm 'deb' source in /etc/apt: the base image needs the host's Debian mirror")


def host_ca_bundle() -> str:
    return _env("PIP_CERT") or _env("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"


def base_rootfs(cfg: Config, digest: str) -> Path:
    """The root filesystem as a tarball under the cache (kept until committed, so a failed commit
    does not repeat the debootstrap)."""
    out = cfg.cache / "images" / f"base-{digest}.tar"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(["nice", "-n", "10", str(BASE_SCRIPT), host_mirror(), str(out)], what="base image rootfs")
    return out


def commit_rootfs(cfg: Config, tarball: Path, ref: str) -> None:
    container = buildah(cfg, "from", "scratch").strip()
    try:
        buildah(cfg, "add", container, str(tarball), "/")
        buildah(
            cfg, "config",
            "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env", "LANG=C.UTF-8",
            "--cmd", "python3",
            "--label", "org.opencontainers.image.description=mp4mp3 base: Debian bookworm, Python 3.11",
            container,
        )  # fmt: skip
        buildah(cfg, "commit", "--format", "docker", container, ref)
    finally:
        buildah(cfg, "rm", container)


# --- service images -----------------------------------------------------------------------------


def ensure_service(cfg: Config, service: str, base_ref: str, *, echo: bool = False) -> Image:
    """localhost/mp4mp3/<service>:<digest>, built with `buildah bud --layers` when missing."""
    dockerfile = DOCKER / f"{service}.Dockerfile"
    base_id = image_id(cfg, base_ref)
    ref = f"{SERVICE_REPO}/{service}:{service_digest(dockerfile, base_id)}"
    image = Image(service, ref)
    with building(cfg):
        while not exists(cfg, ref):
            _say(echo, f"{service}: building {ref}")
            started = time.monotonic()
            build(cfg, dockerfile, base_ref, ref)
            image.build_seconds += time.monotonic() - started
            again = f"{SERVICE_REPO}/{service}:{service_digest(dockerfile, base_id)}"
            if again != ref:  # the sources changed during the build: that tag would name other code
                buildah(cfg, "rmi", ref)
                ref = image.ref = again
        if image.build_seconds:  # under the lock: another checkout's build may use those layers
            untag_older(cfg, ref)
    return image


def build(cfg: Config, dockerfile: Path, base_ref: str, ref: str) -> None:
    argv = [
        "nice", "-n", "10", "buildah", *cfg.buildah_args, "bud",
        "--layers", "--pull=never", "--format", "docker", "--network", "host", "--runtime", RUNTIME,
        "--build-arg", f"PYTHON_IMAGE={base_ref}", "-f", str(dockerfile), "-t", ref, str(ROOT),
    ]  # fmt: skip
    try:
        _run(argv, what=f"{dockerfile.stem} image")
    except ImageError as exc:
        # a build killed half-way (or an older untag racing a build) can leave the layer cache
        # naming a layer that is gone; buildah drops that entry, and the second try builds it anew
        if "layer not known" not in str(exc):
            raise
        _run(argv, what=f"{dockerfile.stem} image")


def service_digest(dockerfile: Path, base_id: str) -> str:
    """The Dockerfile, every file it COPYs from the context, and the base image's id."""
    h = hashlib.sha256(dockerfile.read_bytes())
    h.update(base_id.encode())
    for path in _files(*(ROOT / src for src in copy_sources(dockerfile))):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def copy_sources(dockerfile: Path) -> list[str]:
    """The build-context paths a Dockerfile's COPY/ADD instructions read (not --from=stage)."""
    sources: list[str] = []
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if len(words) < 3 or words[0].upper() not in ("COPY", "ADD"):
            continue
        if any(w.startswith("--from") for w in words):
            continue
        sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


# --- containerd ---------------------------------------------------------------------------------


def ensure_imported(cfg: Config, ref: str, *, echo: bool = False) -> float:
    """Import `ref` into containerd's k8s.io namespace unless it is there; seconds spent."""
    with building(cfg):  # two importers of one image would share (and delete) one archive
        if ref in ctr(cfg, "images", "ls", "-q", f"name=={ref}").split():
            return 0.0
        _say(echo, f"importing {ref} into containerd")
        started = time.monotonic()
        archive = cfg.cache / "images" / f"import-{ref.rsplit('/', 1)[-1].replace(':', '-')}.tar"
        try:
            archive.unlink(missing_ok=True)
            buildah(cfg, "push", ref, f"docker-archive:{archive}:{ref}")
            try:
                ctr(cfg, "images", "import", str(archive))
            except ImageError:  # containerd restarted under us (the node's own restart): once more
                wait_until(lambda: _answers(cfg), 60, "containerd to answer again")
                ctr(cfg, "images", "import", str(archive))
        finally:
            archive.unlink(missing_ok=True)
        return time.monotonic() - started


def ctr(cfg: Config, *args: str) -> str:
    cmd = ["ctr", "--address", str(cfg.containerd_socket), "-n", NAMESPACE, *args]
    return _run(cmd, what=shlex.join(["ctr", *args[:2]]))


def _answers(cfg: Config) -> bool:
    cmd = ["ctr", "--address", str(cfg.containerd_socket), "version"]
    return subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0


# --- buildah ------------------------------------------------------------------------------------


@contextmanager
def building(cfg: Config) -> Iterator[None]:
    """One build at a time per machine: `make up`, tests and the CLI may all ask for the same
    image at once, and would build it twice (or race on the base image's tarball)."""
    lock = cfg.cache / "images" / "build.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def buildah(cfg: Config, *args: str) -> str:
    return _run(["buildah", *cfg.buildah_args, *args], what=f"buildah {args[0]}")


def untag_older(cfg: Config, ref: str, keep: str = "") -> None:
    """Drop the earlier builds of `ref`'s repository from buildah's store, so each rebuild does not
    leave an image behind; the layers they share with the build cache stay. containerd's copies
    are not touched: a pod or a Job's retry may still run one."""
    repo = ref.rpartition(":")[0]
    for name in buildah(cfg, "images", "--format", "{{.Name}}:{{.Tag}}").split():
        if name.rpartition(":")[0] == repo and name not in (ref, keep):
            subprocess.run(["buildah", *cfg.buildah_args, "rmi", name], capture_output=True)


def exists(cfg: Config, ref: str) -> bool:
    cmd = ["buildah", *cfg.buildah_args, "inspect", "--type", "image", ref]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def image_id(cfg: Config, ref: str) -> str:
    return buildah(cfg, "inspect", "--type", "image", "--format", "{{.FromImageID}}", ref).strip()


def size(cfg: Config, ref: str) -> int:
    """Bytes of the image's layers, uncompressed (what a node stores)."""
    manifest = json.loads(buildah(cfg, "inspect", "--type", "image", "--format", "{{.Manifest}}", ref))
    return sum(int(layer["size"]) for layer in manifest["layers"])


def _run(cmd: list[str], *, what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
        raise ImageError(f"{what} failed ({shlex.join(cmd[:6])} ...):\n{tail}")
    return proc.stdout


def _files(*roots: Path) -> Iterator[Path]:
    """Regular files under `roots`, sorted; bytecode caches are not inputs (.dockerignore drops them)."""
    for root in roots:
        paths = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                yield path


def _env(key: str) -> str:
    return os.environ.get(key, "")


def _say(echo: bool, message: str) -> None:
    if echo:
        print(f"[images] {message}", flush=True)
