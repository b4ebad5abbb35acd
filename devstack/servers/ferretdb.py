"""FerretDB v1: a MongoDB wire-protocol server, for GridFS, storing into the devstack's PostgreSQL.

(Its SQLite backend filters every document in Go: a 100 KB GridFS read took 5 s with 160 MB
stored beside it, against 0.13 s on PostgreSQL, which gets the files_id filter pushed down.)"""

from __future__ import annotations

import pymongo
import pymongo.errors

from devstack.servers.base import Server
from devstack.servers.postgres import Postgres


class FerretDB(Server):
    name = "ferretdb"

    def ports(self) -> list[int]:
        return [self.cfg.ports.mongo]

    def launch(self) -> None:
        Postgres(self.cfg).start()  # its storage; idempotent
        binary = self.cfg.binaries["FERRETDB_BIN"] / "ferretdb"
        self.main.start(
            [
                str(binary),
                "--handler=postgresql",
                f"--postgresql-url={Postgres(self.cfg).url}",
                f"--listen-addr={self.host}:{self.cfg.ports.mongo}",
                "--log-level=error",  # warn logs every failed command in full
            ]
        )
        self.main.wait_ready(self.ready, timeout=60, what="answering ping")

    def stop(self) -> bool:
        """FerretDB and its storage go together (it started PostgreSQL, so a stack that lists only
        ferretdb must not leave PostgreSQL running)."""
        stopped = super().stop()
        return Postgres(self.cfg).stop() or stopped

    def ready(self) -> bool:
        try:
            client: pymongo.MongoClient = pymongo.MongoClient(
                self.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
            )
            with client:
                client.admin.command("ping")
            return True
        except pymongo.errors.PyMongoError:
            return False

    @property
    def host(self) -> str:
        """FerretDB listens on one address only: the node's bridge when there is a node (the
        host reaches it there as well as pods), else loopback."""
        return self.listen_hosts[-1]

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.cfg.ports.mongo}/mp4mp3"

    def env(self) -> dict[str, str]:
        return {"MONGO_URI": self.uri}

    def urls(self) -> dict[str, str]:
        return {"mongodb (FerretDB)": self.uri}
