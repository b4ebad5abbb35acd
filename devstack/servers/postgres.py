"""PostgreSQL from Debian's package, our own cluster and port: FerretDB's storage.

FerretDB pushes equality filters (GridFS's ``files_id``) down to PostgreSQL, where its SQLite
backend filters every document in Go, so GridFS reads stay fast as the store grows.
"""

from __future__ import annotations

import glob
import shutil
import signal
import subprocess

from devstack.config import LOOPBACK
from devstack.process import StartError
from devstack.servers.base import Server

DATABASE = "ferretdb"


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise StartError(f"PostgreSQL's {name} not found: is the Debian package postgresql installed?")
    return found[-1]


class Postgres(Server):
    name = "postgres"

    def ports(self) -> list[int]:
        return [self.cfg.ports.postgres]

    @property
    def url(self) -> str:
        # trust auth on loopback only: the devstack's cluster is reachable from this machine alone
        return f"postgres://postgres@{LOOPBACK}:{self.cfg.ports.postgres}/{DATABASE}"

    def launch(self) -> None:
        data = self.home / "data"
        shutil.chown(self.home, "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            data.mkdir(exist_ok=True)
            shutil.chown(data, "postgres", "postgres")
            init = subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    pg_bin("initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                capture_output=True,
                text=True,
            )
            if init.returncode != 0:
                raise StartError(f"initdb failed in {data}:\n{init.stdout}{init.stderr}")
        self.main.start(
            [
                pg_bin("postgres"),
                "-D",
                str(data),
                "-c",
                f"listen_addresses={LOOPBACK}",
                "-c",
                f"port={self.cfg.ports.postgres}",
                "-c",
                f"unix_socket_directories={self.home}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "shared_buffers=256MB",
                "-c",
                "max_connections=200",
            ],
            user="postgres",
        )
        self.main.wait_ready(self._accepting, timeout=60, what="accepting connections")
        self._create_database()

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                pg_bin("psql"),
                "-h",
                LOOPBACK,
                "-p",
                str(self.cfg.ports.postgres),
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
        )

    def _accepting(self) -> bool:
        return self._psql("SELECT 1").returncode == 0

    def _create_database(self) -> None:
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'").stdout.strip() != "1":
            done = self._psql(f"CREATE DATABASE {DATABASE}")
            if done.returncode != 0:
                raise StartError(f"could not create database {DATABASE}: {done.stderr}")

    def ready(self) -> bool:
        return self._psql("SELECT 1", DATABASE).returncode == 0

    def stop(self) -> bool:
        # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") waits for every client to leave
        return self.main.stop(sig=signal.SIGINT)
