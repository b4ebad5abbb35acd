"""Webhooks: register, list and delete the URLs your job outcomes are POSTed to; your signing
secret; the latest deliveries (also those to a job's own ``callbackUrl``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from common import webhooks
from gateway.deps import CurrentUser, DbDep, SettingsDep
from gateway.schemas import problems
from gateway.webhooks import AlreadyRegistered, TooMany, WebhookStore

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

EventType = Literal["conversion.succeeded", "conversion.failed"]


def _all_events() -> list[EventType]:
    return ["conversion.succeeded", "conversion.failed"]


class _Camel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class NewWebhook(_Camel):
    url: str = Field(description="http(s) URL that receives a signed POST per outcome", max_length=2048)
    events: list[EventType] = Field(default_factory=_all_events, min_length=1, description="Which outcomes")


class Delivery(_Camel):
    """The latest attempt at delivering one outcome to one URL."""

    url: str
    job: str
    event: str
    event_id: str = Field(alias="eventId")
    status: str = Field(description="delivered, failing (retried later), parked (given up) or refused")
    attempts: int
    http_status: int | None = Field(None, alias="httpStatus", description="The receiver's answer")
    error: str | None = None
    updated: dt.datetime


class Webhook(_Camel):
    id: str
    url: str
    events: list[str]
    created: dt.datetime
    last_delivery: Delivery | None = Field(None, alias="lastDelivery")


class WebhookList(_Camel):
    items: list[Webhook]


class DeliveryList(_Camel):
    items: list[Delivery]


class SigningSecret(_Camel):
    secret: str = Field(description="HMAC-SHA256 key of X-Mp4mp3-Signature (docs/api.md: verifying)")


def get_store(db: DbDep) -> WebhookStore:
    return WebhookStore(db)


StoreDep = Annotated[WebhookStore, Depends(get_store)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Webhook,
    response_model_by_alias=True,
    summary="Register a URL that receives your jobs' outcomes",
    responses=problems(400, 401, 409, 422, 503),
)
async def register(body: NewWebhook, user: CurrentUser, store: StoreDep, settings: SettingsDep) -> Webhook:
    try:
        await anyio.to_thread.run_sync(webhooks.check_address, body.url, settings.webhook_networks)
    except webhooks.UnsafeUrl as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"Invalid webhook URL: {exc}.") from None
    try:
        hook = await anyio.to_thread.run_sync(
            store.register, user.id, body.url, body.events, settings.webhooks_per_user
        )
    except (TooMany, AlreadyRegistered) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _webhook(hook)


@router.get(
    "",
    response_model=WebhookList,
    response_model_by_alias=True,
    summary="Your webhooks, with each one's last delivery",
    responses=problems(401, 503),
)
async def list_webhooks(user: CurrentUser, store: StoreDep) -> WebhookList:
    hooks = await anyio.to_thread.run_sync(store.owned, user.id)
    return WebhookList(items=[_webhook(h) for h in hooks])


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop sending outcomes to this webhook",
    responses=problems(401, 404, 503),
)
async def delete_webhook(webhook_id: str, user: CurrentUser, store: StoreDep) -> Response:
    if not await anyio.to_thread.run_sync(store.delete, user.id, webhook_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No webhook with id {webhook_id}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/secret",
    response_model=SigningSecret,
    summary="Your signing secret (made on first use); every delivery to you is signed with it",
    responses=problems(401, 503),
)
async def get_secret(user: CurrentUser, store: StoreDep) -> SigningSecret:
    return SigningSecret(secret=await anyio.to_thread.run_sync(store.secret, user.id))


@router.post(
    "/secret",
    response_model=SigningSecret,
    summary="Replace your signing secret; deliveries from now on are signed with the new one",
    responses=problems(401, 503),
)
async def rotate_secret(user: CurrentUser, store: StoreDep) -> SigningSecret:
    return SigningSecret(secret=await anyio.to_thread.run_sync(store.rotate, user.id))


@router.get(
    "/deliveries",
    response_model=DeliveryList,
    response_model_by_alias=True,
    summary="Your latest deliveries, newest first (one job's with ?job=, its callbackUrl included)",
    responses=problems(401, 503),
)
async def deliveries(
    user: CurrentUser,
    store: StoreDep,
    job: Annotated[str | None, Query(max_length=253, description="Only this job's deliveries")] = None,
) -> DeliveryList:
    found = await anyio.to_thread.run_sync(store.recent_deliveries, user.id, job)
    return DeliveryList(items=[_delivery(d) for d in found])


def _webhook(doc: dict[str, Any]) -> Webhook:
    last = doc.get("lastDelivery")
    return Webhook.model_validate(
        {
            "id": str(doc["_id"]),
            "url": doc["url"],
            "events": doc["events"],
            "created": doc["created"],
            "lastDelivery": _delivery(last) if last else None,
        }
    )


def _delivery(doc: dict[str, Any]) -> Delivery:
    return Delivery.model_validate({k: v for k, v in doc.items() if k != "_id"})
