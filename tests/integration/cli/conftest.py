"""Fixtures for the CLI's tests: the chart-installed system of the devstack (`make up`, through
tests/conftest.py's ``devstack``), the CLI run in-process (typer's CliRunner) with a config folder
of its own, and users signed up through it."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from auth.keys import KeyRing, load_ring
from devstack.config import LOOPBACK, ROOT, Ports
from devstack.kube import Kube
from devstack.process import wait_until as wait_for
from devstack.servers.release import NAMESPACE
from devstack.servers.services import SERVICES, Service
from devstack.stack import Stack
from tests.support.cli_harness import SMALL_GATEWAY_OFFSET, Account, Cli, gateway_ready, new_account

AUTH_KEYS_SECRET = "mp4mp3-auth-jwt"  # the chart's generated signing keys


@pytest.fixture(scope="session")
def urls(devstack: Stack) -> dict[str, str]:
    env = devstack.env()
    return {"api": env["GATEWAY_URL"], "auth": env["AUTH_URL"]}


@pytest.fixture
def cli(urls: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(
        tmp_path / "config",
        {
            "MP4MP3_CONFIG_DIR": str(tmp_path / "config"),
            "MP4MP3_API": urls["api"],
            "MP4MP3_AUTH_API": urls["auth"],
            "MP4MP3_POLL_SECONDS": "0.3",
            "MP4MP3_PASSWORD": None,
        },
    )


@pytest.fixture
def account(cli: Cli) -> Account:
    """A new user, signed up (and so logged in) through the CLI."""
    user = new_account()
    result = cli("signup", "--email", user.email, "--password-stdin", stdin=user.password + "\n")
    assert result.exit_code == 0, result.output
    return user


@pytest.fixture
def videos(tmp_path: Path) -> Callable[..., Path]:
    """videos(name, seconds=.., audio=..) -> a generated MP4 copied under tmp_path as ``name``."""
    from devstack.samples import sample_video

    def make(name: str, seconds: float = 6, audio: bool = True, size: str = "320x180") -> Path:
        path = tmp_path / name
        shutil.copyfile(sample_video(seconds=seconds, size=size, audio=audio), path)
        return path

    return make


@pytest.fixture(scope="session")
def small_gateway(devstack: Stack, urls: dict[str, str]) -> Iterator[str]:
    """A second gateway replica (same namespace, database, broker and ServiceAccount as the
    devstack's) that accepts videos up to 1 MiB, so a 413 costs a second and not 4 GiB."""
    cfg = devstack.cfg
    spec = next(s for s in SERVICES if s.name == "gateway")
    # the chart's gateway ServiceAccount, so this replica has exactly the chart gateway's rights
    Service(cfg, spec).write_service_account_kubeconfig(spec.service_account or "mp4mp3-gateway")
    port = Ports(offset=SMALL_GATEWAY_OFFSET).gateway
    url = f"http://{LOOPBACK}:{port}"
    folder = cfg.dir("scratch") / f"cli-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(spec.env(cfg, devstack.data_env()))
    env.update(
        {
            "GATEWAY_PUBLIC_URL": url,
            # the chart-installed auth, as the chart's gateway uses it (no host-process auth runs)
            "GATEWAY_AUTH_URL": urls["auth"],
            "GATEWAY_JWKS_URL": f"{urls['auth']}/.well-known/jwks.json",
            "GATEWAY_MAX_UPLOAD_BYTES": str(1024 * 1024),
            "GATEWAY_DRAIN_LIMIT_BYTES": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    argv = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory"]
    argv += ["--host", LOOPBACK, "--port", str(port), "--no-access-log"]
    log = (folder / "gateway.log").open("ab")
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: gateway_ready(url) or proc.poll() is not None, 60, f"the gateway at {url}")
        assert proc.poll() is None, (folder / "gateway.log").read_text()[-2000:]
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def auth_keys(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """The chart-installed auth's signing keys, read from their Secret (to forge tokens it accepts)."""
    secret = kube.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{AUTH_KEYS_SECRET}")
    folder = tmp_path_factory.mktemp("auth-keys")
    folder.chmod(0o700)
    for name, value in secret["data"].items():
        (folder / name).write_bytes(base64.b64decode(value))
    return load_ring(folder)
