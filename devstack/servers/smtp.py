"""A local SMTP server (aiosmtpd) that keeps every message it accepts as a file in MAIL_DIR."""

from __future__ import annotations

import smtplib
import sys

from devstack.config import LOOPBACK
from devstack.servers.base import Server


class MailServer(Server):
    name = "smtp"

    def ports(self) -> list[int]:
        return [self.cfg.ports.smtp]

    def launch(self) -> None:
        self.cfg.mail_dir.mkdir(parents=True, exist_ok=True)
        self.main.start(
            [
                sys.executable,
                "-m",
                "devstack.mailserver",
                *(arg for h in self.listen_hosts for arg in ("--host", h)),
                "--port",
                str(self.cfg.ports.smtp),
                "--dir",
                str(self.cfg.mail_dir),
            ]
        )
        self.main.wait_ready(self.ready, timeout=30, what="answering NOOP")

    def ready(self) -> bool:
        try:
            with smtplib.SMTP(LOOPBACK, self.cfg.ports.smtp, timeout=1) as smtp:
                return smtp.noop()[0] == 250
        except OSError:
            return False

    def env(self) -> dict[str, str]:
        return {
            "SMTP_HOST": LOOPBACK,
            "SMTP_PORT": str(self.cfg.ports.smtp),
            "MAIL_DIR": str(self.cfg.mail_dir),
        }

    def urls(self) -> dict[str, str]:
        return {"smtp": f"smtp://{LOOPBACK}:{self.cfg.ports.smtp} (mail kept in {self.cfg.mail_dir})"}
