"""What the notification tests drive: the consumer as a real process on a queue and exchange of its
own, events to publish, the SMTP server's mail folder, and folders for throwaway servers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pika
import pika.exceptions

from common.events import ConversionFailed, ConversionSucceeded, JobRef, Owner
from common.messaging import PERSISTENT
from devstack import mailbox
from devstack.config import ROOT, Config, Ports

NOTIFY_PUBLIC_URL = "https://mp3.example.test/api"
MAIL_FROM = "mp4mp3 tests <no-reply@mp4mp3.test>"
# throwaway servers of these tests (offsets 600-609 are ours)
SMTP_OFFSET = 600
RABBITMQ_OFFSET = 601
CLOSED_PORT_OFFSET = 602  # nothing listens on its SMTP port
BOUNCER_OFFSET = 603
TLS_SMTP_OFFSET = 604


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def succeeded_event(recipient: str, filename: str = "holiday.mp4") -> ConversionSucceeded:
    return ConversionSucceeded(
        event_id=str(uuid.uuid4()),
        job=JobRef(name=f"cj-{uuid.uuid4().hex[:24]}", namespace="mp4mp3", uid=str(uuid.uuid4())),
        owner=Owner(user_id="42", email=recipient),
        source_filename=filename,
        mp3_id=uuid.uuid4().hex[:24],
        mp3_size=3_100_000,
        audio_seconds=31.0,
    )


def failed_event(recipient: str, filename: str = "silent.mp4") -> ConversionFailed:
    return ConversionFailed(
        event_id=str(uuid.uuid4()),
        job=JobRef(name=f"cj-{uuid.uuid4().hex[:24]}", namespace="mp4mp3", uid=str(uuid.uuid4())),
        owner=Owner(user_id="42", email=recipient),
        source_filename=filename,
        reason="NoAudioStream",
        message="The video has no audio track to convert.",
    )


def mails_to(mail_dir: Path, recipient: str) -> list[EmailMessage]:
    """Every mail the SMTP server accepted for ``recipient``, oldest first."""
    return [message for _, message in mailbox.messages(mail_dir, recipient)]


def scratch_config(offset: int) -> Config:
    """A throwaway devstack folder (under .devstack/scratch, which every server user can enter)."""
    state = ROOT / ".devstack" / "scratch" / uuid.uuid4().hex
    return Config(state=state, cache=Config.from_env().cache, ports=Ports(offset=offset))


@dataclass
class Notifier:
    """``python -m notification`` as a real process, on a queue and exchange nobody else uses."""

    amqp_url: str
    mongo_uri: str
    smtp_host: str
    smtp_port: int
    log_path: Path
    overrides: dict[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: unique("it-notify"))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def queue(self) -> str:
        return f"{self.name}.outcomes"

    @property
    def exchange(self) -> str:
        return f"{self.name}.events"

    @property
    def webhook_queue(self) -> str:
        return f"{self.name}.webhooks"

    @property
    def collection(self) -> str:
        return f"{self.name}_sent"

    def env(self) -> dict[str, str]:
        settings = {
            "NOTIFY_AMQP_URL": self.amqp_url,
            "NOTIFY_MONGO_URI": self.mongo_uri,
            "NOTIFY_SMTP_HOST": self.smtp_host,
            "NOTIFY_SMTP_PORT": str(self.smtp_port),
            "NOTIFY_SMTP_STARTTLS": "false",
            "NOTIFY_MAIL_FROM": MAIL_FROM,
            "NOTIFY_PUBLIC_URL": NOTIFY_PUBLIC_URL,
            "NOTIFY_QUEUE": self.queue,
            "NOTIFY_EVENTS_EXCHANGE": self.exchange,
            "NOTIFY_SENT_COLLECTION": self.collection,
            "NOTIFY_SMTP_TIMEOUT_SECONDS": "5",
            "NOTIFY_RETRY_INITIAL_DELAY_SECONDS": "0.5",
            "NOTIFY_RETRY_BACKOFF_FACTOR": "2",
            "NOTIFY_RETRY_MAX_DELAY_SECONDS": "2",
            "NOTIFY_RECONNECT_INITIAL_DELAY_SECONDS": "0.2",
            "NOTIFY_RECONNECT_MAX_DELAY_SECONDS": "2",
            "NOTIFY_WEBHOOK_QUEUE": self.webhook_queue,
            "NOTIFY_WEBHOOK_RETRY_INITIAL_DELAY_SECONDS": "0.5",
            "NOTIFY_WEBHOOK_RETRY_BACKOFF_FACTOR": "2",
            "NOTIFY_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "2",
            "NOTIFY_METRICS_PORT": "0",  # several consumers run at once: a test that reads metrics sets one
            **self.overrides,
        }
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
        return {**inherited, **settings, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"}

    def start(self) -> Notifier:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notification"],
                env=self.env(),
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait(
            lambda: self.consumers() == 1 and self.consumers(self.webhook_queue) == 1,
            30,
            "the consumers to subscribe to their queues",
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``check``; fail at once (with the consumer's log) if the consumer died meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            assert self.alive(), f"the consumer exited while waiting for {what}:\n{self.log()}"
            time.sleep(0.2)
        raise AssertionError(
            f"timed out after {timeout:.0f} s waiting for {what}; consumer log:\n{self.log()}"
        )

    # --- the broker, as a test sees it ---

    @contextlib.contextmanager
    def channel(self) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
        conn = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            ch = conn.channel()
            ch.confirm_delivery()
            yield ch
        finally:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                conn.close()

    def publish(self, event: ConversionSucceeded | ConversionFailed | bytes, routing_key: str = "") -> None:
        body = event if isinstance(event, bytes) else event.body()
        key = routing_key or (event.type if not isinstance(event, bytes) else "conversion.succeeded")
        with self.channel() as ch:
            ch.basic_publish(
                self.exchange,
                key,
                body,
                pika.BasicProperties(delivery_mode=PERSISTENT, content_type="application/json"),
                mandatory=True,
            )

    def consumers(self, queue: str = "") -> int:
        try:
            with self.channel() as ch:
                return int(ch.queue_declare(queue or self.queue, passive=True).method.consumer_count)
        except (pika.exceptions.AMQPError, OSError):
            return 0  # queue not declared yet, or broker away

    def count(self, queue: str) -> int:
        with self.channel() as ch:
            return int(ch.queue_declare(queue, passive=True).method.message_count)

    def take_parked(self) -> list[tuple[pika.BasicProperties, bytes]]:
        taken: list[tuple[pika.BasicProperties, bytes]] = []
        with self.channel() as ch:
            while True:
                method, props, body = ch.basic_get(f"{self.queue}.parked", auto_ack=True)
                if method is None:
                    return taken
                taken.append((props, body))

    def cleanup_broker(self) -> None:
        with contextlib.suppress(pika.exceptions.AMQPError, OSError), self.channel() as ch:
            for base in (self.queue, self.webhook_queue):
                for queue in (base, f"{base}.retry", f"{base}.parked"):
                    ch.queue_delete(queue)
            ch.exchange_delete(self.exchange)
