"""FerretDB v1: a MongoDB wire-protocol server over SQLite, for GridFS."""

from __future__ import annotations

import pymongo
import pymongo.errors

from devstack.config import LOOPBACK
from devstack.servers.base import Server


class FerretDB(Server):
    name = "ferretdb"

    def launch(self) -> None:
        data = self.home / "data"
        data.mkdir(exist_ok=True)
        binary = self.cfg.binaries["FERRETDB_BIN"] / "ferretdb"
        self.main.start(
            [
                str(binary),
                f"--sqlite-url=file:{data}/",
                f"--listen-addr={LOOPBACK}:{self.cfg.ports.mongo}",
                "--log-level=warn",
            ]
        )
        self.main.wait_ready(self.ready, timeout=60, what="answering ping")

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
    def uri(self) -> str:
        return f"mongodb://{LOOPBACK}:{self.cfg.ports.mongo}/mp4mp3"

    def env(self) -> dict[str, str]:
        return {"MONGO_URI": self.uri}

    def urls(self) -> dict[str, str]:
        return {"mongodb (FerretDB)": self.uri}
