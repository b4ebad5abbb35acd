"""The connections the gateway holds for its lifetime, opened at start and handed to routes
through FastAPI dependencies (so tests point them at other servers, not other code)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
import httpx
import pymongo
from fastapi import Depends, Request
from pymongo.database import Database

from common.logs import kv
from gateway import storage
from gateway.auth import JWKSCache, TokenVerifier
from gateway.events import Publisher
from gateway.jobs import JobRecords, JobService
from gateway.k8s import ConversionJobs, http_client, load_configuration
from gateway.settings import Settings

log = logging.getLogger("gateway")


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
    indexes_ready: bool = False

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        mongo: pymongo.MongoClient = pymongo.MongoClient(
            settings.mongo_uri,
            serverSelectionTimeoutMS=5000,
            connectTimeoutMS=3000,
            appname="mp4mp3-gateway",
        )
        db = mongo.get_default_database()
        publisher = Publisher(settings.amqp_url)
        kube_http = http_client(load_configuration(settings.kubeconfig), settings.kube_timeout_seconds)
        conversion_jobs = ConversionJobs(kube_http, settings.namespace)
        auth_http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
        keys = JWKSCache(
            str(settings.jwks_url),
            auth_http,
            ttl=settings.jwks_cache_seconds,
            min_refresh_interval=settings.jwks_min_refresh_seconds,
        )
        verifier = TokenVerifier(
            keys, settings.jwt_issuer, settings.jwt_audience, leeway=settings.jwt_leeway_seconds
        )
        jobs = JobService(
            db=db,
            records=JobRecords(db),
            resources=conversion_jobs,
            publisher=publisher,
            base_url=str(settings.public_url).rstrip("/"),
        )
        return cls(settings, mongo, db, publisher, kube_http, conversion_jobs, auth_http, verifier, jobs)

    async def ensure_indexes(self) -> None:
        """Once, when MongoDB first answers (the gateway starts even while it does not)."""
        if self.indexes_ready:
            return
        try:
            await anyio.to_thread.run_sync(storage.ensure_indexes, self.db)
            await anyio.to_thread.run_sync(self.jobs.records.ensure_indexes)
            self.indexes_ready = True
        except pymongo.errors.PyMongoError as exc:
            log.warning(kv(event="mongo.indexes_deferred", error=exc))

    async def close(self) -> None:
        await self.kube_http.aclose()
        await self.auth_http.aclose()
        await anyio.to_thread.run_sync(self.publisher.close)
        self.mongo.close()


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def get_jobs(resources: Annotated[Resources, Depends(get_resources)]) -> JobService:
    return resources.jobs


def get_db(resources: Annotated[Resources, Depends(get_resources)]) -> Database:
    return resources.db


ResourcesDep = Annotated[Resources, Depends(get_resources)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
DbDep = Annotated[Database, Depends(get_db)]
