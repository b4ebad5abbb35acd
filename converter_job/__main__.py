"""``python -m converter_job``: convert the ConversionJob named in env, exit with a code the Job reads.

Exit 0 with {"mp3Id", "size", "audioSeconds"} in the termination message, and the same report
(with the pod's name) patched into the ConversionJob's ``status.converterReport`` (a long video's
part that another pod joins: exit 0 with {"part", "of", "size"}, no report); on failure a
{"reason", "message"} there and exit_codes.BAD_INPUT (don't retry) or FAILED (retry); on SIGTERM,
ffmpeg is killed, temp files removed, exit 143.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from common import exit_codes
from common.logs import kv
from common.startup import load_settings
from converter_job.errors import ConversionFailure, Terminated
from converter_job.kube import StatusPatcher
from converter_job.parts import Part
from converter_job.run import run
from converter_job.settings import Settings, get_settings

log = logging.getLogger("converter")


def main() -> int:
    settings = load_settings(get_settings, log)
    if settings is None:
        return exit_codes.FAILED
    signal.signal(signal.SIGTERM, _on_sigterm)
    return convert_and_report(settings)


def convert_and_report(settings: Settings) -> int:
    name = settings.job_name
    patcher = (
        StatusPatcher.in_cluster(settings.service_account_dir, settings.namespace, name, settings.api_timeout)
        if settings.report_progress
        else None
    )
    try:
        result = run(settings, patcher)
        report = result.termination_message()
        _terminate_with(settings.termination_log, report)
        if isinstance(result, Part):  # a long video's part, stored; another pod joins them
            log.info(kv(job=name, event="part.succeeded", **report))
            return exit_codes.OK
        if patcher is not None:  # the operator settles the job from it, not waiting for the pod's end
            patcher.report_result({**report, "pod": settings.pod_name})
    except ConversionFailure as exc:
        failed: dict[str, object] = {"reason": exc.reason, "message": exc.message}
        log.warning(kv(job=name, event="conversion.failed", **failed, code=exc.exit_code))
        _terminate_with(settings.termination_log, failed)
        return exc.exit_code
    except Terminated:
        log.warning(kv(job=name, event="conversion.terminated"))
        message = "The converter was stopped before it finished."
        _terminate_with(settings.termination_log, {"reason": "Terminated", "message": message})
        return exit_codes.TERMINATED
    except Exception as exc:  # the world's fault until shown otherwise: the Job retries
        log.exception(kv(job=name, event="conversion.crashed", error=type(exc).__name__))
        message = f"The converter failed unexpectedly ({type(exc).__name__})."
        _terminate_with(settings.termination_log, {"reason": "ConverterError", "message": message})
        return exit_codes.FAILED
    finally:
        if patcher is not None:
            patcher.close()
    log.info(kv(job=name, event="conversion.succeeded", mp3_id=result.mp3_id, bytes=result.size))
    return exit_codes.OK


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough; cleanup must not be interrupted
    raise Terminated()


def _terminate_with(path: Path, message: dict[str, object]) -> None:
    try:
        path.write_text(json.dumps(message))
    except OSError as exc:  # e.g. run outside a pod without /dev/termination-log
        log.warning(kv(event="termination_message.not_written", path=path, error=exc))


if __name__ == "__main__":
    sys.exit(main())
