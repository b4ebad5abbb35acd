"""``python -m conversion_operator``: run the Kopf operator on OPERATOR_NAMESPACE, with peering and a
liveness endpoint at http://OPERATOR_HEALTH_HOST:OPERATOR_HEALTH_PORT/healthz."""

from __future__ import annotations

import logging
import sys
from typing import Any, cast

import kopf
from pydantic import ValidationError

from common import logs
from common.logs import kv
from conversion_operator.settings import get_settings

log = logging.getLogger("operator")


def main() -> int:
    logs.setup()
    try:
        cfg = get_settings()
    except ValidationError as exc:
        log.error(kv(event="settings.invalid", error=exc))
        return 2
    logs.setup(cfg.log_level)
    from conversion_operator import handlers  # registers the handlers with Kopf

    handlers.register_resync(cfg.resync_seconds)

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
