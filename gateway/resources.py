"""The connections the gateway holds for its lifetime, opened at start and handed to routes one
by one through the dependencies of :mod:`gateway.deps` (so tests point them at other servers, not
other code)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio.to_thread
import httpx
import pymongo
from pymongo.database import Database

from common.kube import load_configuration
from common.logs import kv
from gateway import storage
from gateway.auth import JWKSCache, TokenVerifier, TokenVersions
from gateway.events import Publisher
from gateway.jobs import JobService
from gateway.k8s import ConversionJobs, http_client
from gateway.records import JobRecords
from gateway.settings import Settings
from gateway.watch import watch_client

log = logging.getLogger("gateway")


@dataclass
class Indexes:
    """The MongoDB indexes, created once MongoDB first answers (the gateway starts even while it
    does not; the lifespan and every readiness probe try again until it does)."""

    db: Database
    records: JobRecords
    ready: bool = False

    async def ensure(self) -> None:
        if self.ready:
            return
        try:
            await anyio.to_thread.run_sync(storage.ensure_indexes, self.db)
            await anyio.to_thread.run_sync(self.records.ensure_indexes)
            self.ready = True
        except pymongo.errors.PyMongoError as exc:
            log.warning(kv(event="mongo.indexes_deferred", error=exc))


@dataclass
class Resources:
    settings: Settings
    mongo: pymongo.MongoClient
    db: Database
    publisher: Publisher
    kube_http: httpx.AsyncClient
    conversion_jobs: ConversionJobs
    auth_http: httpx.AsyncClient
    verifier: TokenVerifier
    jobs: JobService
    indexes: Indexes
    watch_http: httpx.AsyncClient  # long-lived watches (GET /jobs/events), apart from short calls
    batch_slots: storage.BatchSlots  # the upload batches this process holds at once

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        mongo: pymongo.MongoClient = pymongo.MongoClient(
            settings.mongo_uri.get_secret_value(),
            serverSelectionTimeoutMS=5000,
            connectTimeoutMS=3000,
            appname="mp4mp3-gateway",
        )
        db = mongo.get_default_database()
        publisher = Publisher(settings.amqp_url.get_secret_value())
        kube_config = load_configuration(settings.kubeconfig)
        kube_http = http_client(kube_config, settings.kube_timeout_seconds)
        watch_http = watch_client(kube_config, min(settings.kube_timeout_seconds, 3.0))
        conversion_jobs = ConversionJobs(kube_http, settings.namespace)
        auth_http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        keys = JWKSCache(
            str(settings.jwks_url),
            auth_http,
            ttl=settings.jwks_cache_seconds,
            min_refresh_interval=settings.jwks_min_refresh_seconds,
        )
        versions = TokenVersions(str(settings.auth_url), auth_http, ttl=settings.token_version_cache_seconds)
        verifier = TokenVerifier(
            keys,
            settings.jwt_issuer,
            settings.jwt_audience,
            leeway=settings.jwt_leeway_seconds,
            versions=versions,
        )
        jobs = JobService(
            db=db,
            records=JobRecords(db),
            resources=conversion_jobs,
            publisher=publisher,
            base_url=str(settings.public_url).rstrip("/"),
        )
        indexes = Indexes(db, jobs.records)
        return cls(
            settings,
            mongo,
            db,
            publisher,
            kube_http,
            conversion_jobs,
            auth_http,
            verifier,
            jobs,
            indexes,
            watch_http,
            storage.BatchSlots(settings.upload_memory_bytes, settings.upload_batch_bytes),
        )

    async def close(self) -> None:
        await self.kube_http.aclose()
        await self.watch_http.aclose()
        await self.auth_http.aclose()
        await anyio.to_thread.run_sync(self.publisher.close)
        self.mongo.close()
