"""MariaDB from Debian's package, with its own datadir, socket and port (MySQL protocol)."""

from __future__ import annotations

import shutil
import subprocess

import pymysql

from devstack.config import LOOPBACK
from devstack.network import POD_CIDR
from devstack.process import StartError
from devstack.servers.base import Server, devstack_secret

DATABASE = "mp4mp3"
USER = "mp4mp3"


class MariaDB(Server):
    name = "mariadb"

    def ports(self) -> list[int]:
        return [self.cfg.ports.mysql]

    @property
    def socket(self) -> str:
        return str(self.home / "mysqld.sock")

    @property
    def password(self) -> str:
        return devstack_secret(self.cfg, "mysql_password")

    def launch(self) -> None:
        datadir = self.home / "data"
        if not (datadir / "mysql").is_dir():
            datadir.mkdir(parents=True, exist_ok=True)
            shutil.chown(datadir, "mysql", "mysql")
            init = subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    "--user=mysql",
                    f"--datadir={datadir}",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                ],
                capture_output=True,
                text=True,
            )
            if init.returncode != 0:
                # typically: the mysql user cannot reach the state folder
                raise StartError(f"mariadb-install-db failed in {datadir}:\n{init.stdout}{init.stderr}")
        shutil.chown(self.home, "mysql", "mysql")
        self.main.start(
            [
                "mariadbd",
                "--no-defaults",
                "--user=mysql",
                f"--datadir={datadir}",
                f"--port={self.cfg.ports.mysql}",
                f"--socket={self.socket}",
                f"--bind-address={','.join(self.listen_hosts)}",
                f"--pid-file={self.home / 'mysqld.pid'}",
                "--skip-name-resolve",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--max-connections=500",
                "--innodb-flush-log-at-trx-commit=2",
            ]
        )
        self.main.wait_ready(self._socket_ready, timeout=60, what="accepting connections")
        self._provision()
        self.main.wait_ready(self.ready, timeout=30, what="reachable over TCP")

    def _socket_ready(self) -> bool:
        try:
            pymysql.connect(unix_socket=self.socket, user="root", connect_timeout=1).close()
            return True
        except pymysql.MySQLError:
            return False

    def _provision(self) -> None:
        conn = pymysql.connect(unix_socket=self.socket, user="root", autocommit=True)
        with conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
            # pods connect from the node's pod network: MariaDB matches hosts by pattern, 10.244.0.%
            pods = [POD_CIDR.rsplit(".", 1)[0] + ".%"] if self.cfg.node else []
            for host in (LOOPBACK, "localhost", *pods):
                # the account as parameters: the host pattern's % must not meet Python's formatting
                cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (USER, host, self.password))
                cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (USER, host, self.password))
                cur.execute(f"GRANT ALL PRIVILEGES ON `{DATABASE}`.* TO '{USER}'@'{host}'")
                # tests create throwaway databases named mp4mp3_test_*
                cur.execute(f"GRANT ALL PRIVILEGES ON `{DATABASE}\\_test\\_%`.* TO '{USER}'@'{host}'")

    def ready(self) -> bool:
        try:
            pymysql.connect(
                host=LOOPBACK,
                port=self.cfg.ports.mysql,
                user=USER,
                password=self.password,
                database=DATABASE,
                connect_timeout=1,
            ).close()
            return True
        except pymysql.MySQLError:
            return False

    def env(self) -> dict[str, str]:
        return {"MYSQL_URL": f"mysql://{USER}:{self.password}@{LOOPBACK}:{self.cfg.ports.mysql}/{DATABASE}"}

    def urls(self) -> dict[str, str]:
        return {"mysql": f"mysql://{LOOPBACK}:{self.cfg.ports.mysql}/{DATABASE} (user {USER})"}
