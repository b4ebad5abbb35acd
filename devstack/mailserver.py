"""The devstack's SMTP server: accepts every message and writes it to a folder as .eml."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MaildirHandler:
    """Writes each message atomically (tmp file, then rename), so readers never see half a mail."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counter = itertools.count()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        name = f"{stamp}-{os.getpid()}-{next(self.counter):06d}.eml"
        tmp = self.folder / f".{name}.tmp"
        content: Any = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else str(content).encode()
        header = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        tmp.write_bytes(header.encode() + data)
        tmp.rename(self.folder / name)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", action="append", help="an address to listen on (repeatable)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    hosts = args.host or ["127.0.0.1"]
    controllers = [Controller(MaildirHandler(args.dir), hostname=h, port=args.port) for h in hosts]
    for controller in controllers:
        controller.start()
    print(f"smtp listening on {', '.join(hosts)} port {args.port}, mail in {args.dir}", flush=True)
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    asyncio.run(wait())
    for controller in controllers:
        controller.stop()


if __name__ == "__main__":
    main()
