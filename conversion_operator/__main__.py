"""``python -m conversion_operator``: run the Kopf operator on OPERATOR_NAMESPACE, with peering and a
liveness endpoint at http://OPERATOR_HEALTH_HOST:OPERATOR_HEALTH_PORT/healthz and Prometheus metrics at
http://OPERATOR_METRICS_HOST:OPERATOR_METRICS_PORT/metrics."""

from __future__ import annotations

import logging
import sys
from typing import Any, cast

import kopf

from common.startup import load_settings
from conversion_operator import metrics
from conversion_operator.settings import get_settings

log = logging.getLogger("operator")


def main() -> int:
    cfg = load_settings(get_settings, log)
    if cfg is None:
        return 2
    from conversion_operator import handlers  # registers the handlers with Kopf

    handlers.register_resync(cfg.resync_seconds)
    handlers.register_retention(cfg.retention_check_seconds)
    metrics.serve(cfg.metrics_port, cfg.metrics_host)  # before the liveness endpoint answers

    kopf.run(
        namespaces=[cfg.namespace],
        standalone=False,
        peering_name=cfg.peering_name,
        priority=cfg.peering_priority,
        identity=cast(Any, cfg.peer_id),  # None: Kopf's own (user@host/time/random)
        liveness_endpoint=f"http://{cfg.health_host}:{cfg.health_port}/healthz",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
