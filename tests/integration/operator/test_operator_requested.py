"""conversion.requested: the operator creates the ConversionJob the gateway could not (API outage),
once, and never for a video that is gone; messages it cannot use are parked, not lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pika
import pytest
from bson import ObjectId

from common import messaging
from common.events import REQUESTED, ConversionRequested, JobRef, Owner, requested_event_id
from common.resources import FINALIZER, OWNER_LABEL, job_name
from devstack.process import wait_until as wait_for
from tests.support.operator_world import OperatorWorld

pytestmark = pytest.mark.devstack
QUEUE = "operator.requested"


def publish(world: OperatorWorld, body: bytes, message_id: str = "m") -> None:
    conn = pika.BlockingConnection(pika.URLParameters(world.amqp_url))
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        messaging.publish(channel, REQUESTED, body, message_id)
    finally:
        conn.close()


def depth(world: OperatorWorld, queue: str) -> int:
    conn = pika.BlockingConnection(pika.URLParameters(world.amqp_url))
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()


def requested(
    world: OperatorWorld, source: dict[str, Any], owner: str = "u-7", **output: Any
) -> ConversionRequested:
    name = job_name(source["videoId"])
    spec = {"source": source, "owner": {"userId": owner, "email": f"{owner}@example.com"}, "output": output}
    return ConversionRequested(
        event_id=requested_event_id(world.namespace, name),
        job=JobRef(name=name, namespace=world.namespace),
        owner=Owner(user_id=owner, email=f"{owner}@example.com"),
        spec=spec,
        labels={OWNER_LABEL: owner},
    )


def test_requested_event_creates_the_missing_conversionjob_once(world: OperatorWorld, media: Path) -> None:
    event = requested(world, world.put_video(media / "talk.mp4", owner="u-7"))
    name = event.job.name
    assert world.conversionjob(name) is None  # the gateway "could not" create it

    publish(world, event.body(), event.event_id)
    st = world.wait_settled(name)
    assert st["phase"] == "Succeeded"
    cr = world.conversionjob(name)
    assert cr is not None
    assert cr["metadata"]["labels"][OWNER_LABEL] == "u-7"
    assert FINALIZER in cr["metadata"]["finalizers"]
    uid = cr["metadata"]["uid"]

    publish(world, event.body(), event.event_id)  # a redelivery, or the gateway's own publish
    wait_for(lambda: depth(world, QUEUE) == 0, 30, "the duplicate to be consumed")
    again = world.conversionjob(name)
    assert again is not None and again["metadata"]["uid"] == uid  # the same resource, untouched
    assert len(world.tap.events_for(name)) == 1


def test_requested_event_for_a_deleted_video_creates_nothing(world: OperatorWorld, media: Path) -> None:
    source = world.put_video(media / "talk.mp4")
    event = requested(world, source)
    world.db["videos.files"].delete_one({"_id": ObjectId(source["videoId"])})  # e.g. cancelled meanwhile
    publish(world, event.body(), event.event_id)
    wait_for(lambda: depth(world, QUEUE) == 0, 30, "the message to be consumed")
    assert world.conversionjob(event.job.name) is None
    assert depth(world, f"{QUEUE}.parked") == 0


def test_unusable_messages_are_parked_not_lost(world: OperatorWorld, media: Path) -> None:
    before = depth(world, f"{QUEUE}.parked")
    publish(world, b'{"type": "conversion.requested", "half": "an event"}')
    refused = requested(world, world.put_video(media / "talk.mp4"), bitrate="100k")  # the schema refuses it
    publish(world, refused.body(), refused.event_id)
    wait_for(lambda: depth(world, f"{QUEUE}.parked") == before + 2, 30, "both messages to be parked")
    assert world.conversionjob(refused.job.name) is None
