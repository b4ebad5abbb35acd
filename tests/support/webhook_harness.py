"""What the webhook tests drive: a receiver (a small HTTP server on a loopback port, as a user's
endpoint would be) that records every POST, can answer an error, or be down for a while; and
Prometheus text parsed into numbers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from prometheus_client.parser import text_string_to_metric_families

from common import webhooks
from devstack.config import LOOPBACK
from tests.support.gateway_harness import free_port


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


def verified(secret: str, delivery: Received) -> bool:
    """What a receiver checks: the signature over the timestamp and body, and a fresh timestamp."""
    return webhooks.verify(
        secret,
        delivery.headers[webhooks.SIGNATURE_HEADER.lower()],
        delivery.headers[webhooks.TIMESTAMP_HEADER.lower()],
        delivery.body,
    )


@dataclass
class Receiver:
    """``start()`` listens on ``port`` (the same one after ``stop()``: a receiver that was down)."""

    port: int = field(default_factory=free_port)
    host: str = LOOPBACK  # the e2e tests listen on the node's bridge address, which pods reach
    answer: int = 204
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/mp4mp3"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page: (name, labels) -> value."""
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels``; 0 when absent (a labelled counter not yet used)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
