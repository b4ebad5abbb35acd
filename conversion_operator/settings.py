"""The operator's settings (env prefix OPERATOR_): one place, typed, no secret with a usable default."""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPERATOR_")

    namespace: str  # the namespace whose ConversionJobs this operator runs
    amqp_url: SecretStr  # RabbitMQ: outcome events out, conversion.requested in
    mongo_uri: SecretStr  # GridFS: the finalizer deletes the video and the MP3
    health_host: str = "0.0.0.0"  # the liveness endpoint's address (the kubelet probes it)
    health_port: int = 8080
    metrics_host: str = "0.0.0.0"  # Prometheus /metrics (conversion_operator/metrics.py)
    metrics_port: int = Field(default=9101, ge=0, le=65535)  # 0: no metrics server
    log_level: str = "INFO"

    # -- the converter Job --------------------------------------------------------------------
    converter_image: str = "mp4mp3/converter:latest"
    converter_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    converter_working_dir: str | None = None  # the container's workingDir; unset: the image's
    converter_command: list[str] = ["python", "-m", "converter_job"]  # JSON; for a custom image
    # how the converter reaches MongoDB: a Secret's key (the chart) or a literal URI (the devstack)
    converter_mongo_secret: str | None = None
    converter_mongo_secret_key: str = "uri"
    converter_mongo_uri: SecretStr | None = None
    # one shared ServiceAccount for every converter; unset: a ServiceAccount + Role per job, limited
    # to patching that one ConversionJob's status
    converter_service_account: str | None = None
    converter_cpu_request: str = "250m"
    converter_cpu_limit: str | None = "1"
    converter_memory_request: str = "128Mi"
    converter_memory_limit: str = "512Mi"
    converter_work_dir_limit: str = "2Gi"  # the emptyDir for the temp MP4 and MP3
    converter_progress_interval: float = 1.0  # seconds between progress patches, at least
    converter_probe_timeout: float = Field(120.0, gt=0)  # seconds for ffprobe to read a video's headers
    default_engine: Literal["ffmpeg", "moviepy"] = "ffmpeg"  # for ConversionJobs that name none
    # a long video is encoded by this many pods at once (an Indexed Job: each pod one contiguous
    # part of the audio, the last to finish joins them; converter_job/segments.py); 1: never (the
    # default: each part downloads the whole video, which on a database sharing the nodes' cores
    # costs more than the parts save; docs/operations.md has the numbers)
    converter_segments: int = Field(1, ge=1, le=16)
    converter_segment_threshold_seconds: float = Field(1200.0, gt=0)  # "long": this much audio or more
    job_backoff_limit: int = 2  # retries after the first attempt (bad input is never retried)
    job_deadline_seconds: int = 1800  # the whole Job, retries included
    job_ttl_seconds: int = 86400  # finished Jobs (and their pods) are removed this long after
    job_termination_grace_seconds: int = 15

    # -- admission (admission.py): converter Jobs are created suspended and admitted under caps ----
    # "operator": we admit; "kueue": the Job carries Kueue's queue-name label and Kueue admits it
    admission: Literal["operator", "kueue"] = "operator"
    max_running: int = Field(10, ge=1)  # converter Jobs running at once in the namespace
    max_running_per_user: int = Field(2, ge=1)  # of those, at most this many for one owner
    kueue_queue_name: str = "mp4mp3"  # the LocalQueue named on the Jobs when admission is "kueue"

    # -- retention (retention.py): finished ConversionJobs and their files are removed -------------
    retention_seconds: int = Field(7 * 86400, ge=1)  # after finishing, unless the job asks otherwise
    retention_min_seconds: int = Field(60, ge=1)  # the bounds of a job's spec.retentionSeconds
    retention_max_seconds: int = Field(30 * 86400, ge=1)
    # the video may go earlier than the MP3 (unset: with the job)
    video_retention_seconds: int | None = Field(None, ge=1)
    retention_check_seconds: float = 60.0  # how often finished ConversionJobs are looked at

    # -- Kopf ---------------------------------------------------------------------------------
    peering_name: str = "mp4mp3-operator"  # replicas sharing it: only the highest priority acts
    # unset: random, so that of several replicas exactly one is the highest and acts
    peering_priority: int = Field(default_factory=lambda: random.randint(1, 2**31 - 1))
    peering_lifetime: int = 30  # seconds a silent replica is still taken for alive
    peer_id: str | None = None  # this replica's identity in the peering (the chart: the pod's name)
    resync_seconds: float = 15.0  # how often unsettled ConversionJobs are reconciled even without events

    # -- conversion.requested -------------------------------------------------------------------
    requested_queue: str = "operator.requested"
    # an accepted upload must outlive an API server outage (the gateway answered 202 already):
    # the first attempt, then an hour of retries 5 s apart, and only then parked
    requested_max_attempts: int = 721
    requested_retry_delay_ms: int = 5000

    @model_validator(mode="after")
    def _converter_reaches_mongo(self) -> Settings:
        if not self.converter_mongo_secret and self.converter_mongo_uri is None:
            raise ValueError("set OPERATOR_CONVERTER_MONGO_SECRET (a Secret) or OPERATOR_CONVERTER_MONGO_URI")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # required fields come from env
