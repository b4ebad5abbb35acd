"""Serving a process's Prometheus metrics (``prometheus_client``) on a port of its own, for the
services that have no HTTP server (the operator, notification); the gateway serves its own route."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from common.logs import kv


def serve(port: int, host: str, log: logging.Logger) -> None:
    """Serve ``/metrics`` from a daemon thread (port 0: not at all). A port in use costs the
    metrics, not the service: logged as an error, the work goes on."""
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.error(kv(event="metrics.unavailable", port=port, error=exc))
