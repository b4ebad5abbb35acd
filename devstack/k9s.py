"""`make k9s`: k9s on the devstack, with the project's aliases, hotkeys and plugins (docs/k9s/).

k9s reads its configuration from K9S_CONFIG_DIR and writes state beside it, so the files of
docs/k9s/ are copied into a folder under .devstack/ at every start (edits show up, the repo stays
clean). The plugins call kubectl, found first on PATH from the devstack's build, and the gateway
at MP4MP3_API.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import yaml

from devstack.config import ROOT, Config

DOCS = ROOT / "docs" / "k9s"
FILES = ("aliases.yaml", "hotkeys.yaml", "plugins.yaml")
DEFAULT_ARGS = ["-n", "mp4mp3", "-c", "cj"]
# no release check: nothing outside the machine is reachable, and the UI would wait for it
SETTINGS = {"k9s": {"skipLatestRevCheck": True, "ui": {"logoless": True}}}


def config_dir(cfg: Config) -> Path:
    """.devstack/k9s/config with docs/k9s's files and our settings, fresh at every start."""
    folder = cfg.dir("k9s") / "config"
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(DOCS / name, folder / name)
    (folder / "config.yaml").write_text(yaml.safe_dump(SETTINGS))
    return folder


def binary(cfg: Config) -> Path:
    return cfg.binaries["K9S_BIN"] / "k9s"


def argv(cfg: Config, *args: str) -> list[str]:
    return [str(binary(cfg)), f"--kubeconfig={cfg.kubeconfig}", *(args or DEFAULT_ARGS)]


def environment(cfg: Config, gateway_url: str | None = None) -> dict[str, str]:
    home = cfg.dir("k9s")
    kubectl_dir = str(cfg.binaries["KUBERNETES_BIN"])
    env = {
        **os.environ,
        "K9S_CONFIG_DIR": str(config_dir(cfg)),
        "K9S_LOGS_DIR": str(home / "logs"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "KUBECONFIG": str(cfg.kubeconfig),
        "PATH": f"{kubectl_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if gateway_url:
        env.setdefault("MP4MP3_API", gateway_url)
    return env


def main() -> None:
    from devstack.servers.release import gateway_url

    cfg = Config.from_env()
    if not binary(cfg).exists():
        sys.exit(f"k9s is not built yet: devstack/build.sh k9s (expected {binary(cfg)})")
    if not cfg.kubeconfig.exists():
        sys.exit("the devstack is not up: make up")
    os.execve(str(binary(cfg)), argv(cfg, *sys.argv[1:]), environment(cfg, gateway_url()))


if __name__ == "__main__":
    main()
