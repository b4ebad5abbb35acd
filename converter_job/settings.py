"""The converter's settings (env prefix CONVERTER_), set by the operator on the Job's container."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.kube import SERVICE_ACCOUNT_DIR
from converter_job.spec import Engine, Spec


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONVERTER_")

    # the ConversionJob this run is for (downward API on the Job's pod)
    job_name: str
    namespace: str
    job_uid: str
    pod_name: str = ""  # this converter's pod, named in the report it patches into the status
    spec: Spec  # JSON
    mongo_uri: SecretStr  # mongodb://host:port/DB; the chart takes it from a Secret
    engine: Engine = "ffmpeg"  # used when the spec names none
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    work_dir: Path | None = None  # temp files go here (the pod's emptyDir); the system's temp dir if unset
    progress_interval: float = 1.0  # seconds between status.progress patches, at least
    report_progress: bool = True  # patch status.progress through the Kubernetes API
    probe_timeout: float = Field(120.0, gt=0)  # seconds for ffprobe to read the video's headers
    duration_tolerance: float = 0.5  # seconds the MP3 may differ from the audio it was made from
    termination_log: Path = Path("/dev/termination-log")
    service_account_dir: Path = SERVICE_ACCOUNT_DIR
    api_timeout: float = 5.0
    mongo_timeout_ms: int = 10_000
    log_level: str = "INFO"
    # a long video's parts (converter_job/segments.py): this pod encodes part ``segment_index`` of
    # ``segments`` (Kubernetes gives an Indexed Job's pod its index as JOB_COMPLETION_INDEX), stores
    # it under the Job's uid (``run_uid``), and the last to finish joins them
    segments: int = Field(1, ge=1)
    segment_index: int = Field(
        0, ge=0, validation_alias=AliasChoices("CONVERTER_SEGMENT_INDEX", "JOB_COMPLETION_INDEX")
    )
    run_uid: str = ""

    @model_validator(mode="after")
    def _a_part_knows_its_run(self) -> Settings:
        if self.segments > 1 and (not self.run_uid or self.segment_index >= self.segments):
            raise ValueError(
                "a part of a long video needs CONVERTER_RUN_UID and an index below CONVERTER_SEGMENTS"
            )
        return self

    @property
    def effective_engine(self) -> Engine:
        """The spec's engine, else the default; ffmpeg whenever the output is more than a plain MP3
        (tags, cover, loudness, other formats are ffmpeg's alone)."""
        engine = self.spec.engine or self.engine
        return engine if self.spec.output.plain else "ffmpeg"


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # required fields come from env
