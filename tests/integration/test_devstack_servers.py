"""The devstack's data servers are real and reachable over loopback sockets."""

from __future__ import annotations

import contextlib
import email
import hashlib
import os
import shutil
import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import gridfs
import pika
import psutil
import pymongo
import pymysql
import pytest

from devstack.config import ROOT, Config, Ports
from devstack.process import port_open
from devstack.stack import Stack

pytestmark = pytest.mark.devstack

MB = 1024 * 1024
SIZE_MB = 40  # 320 chunks of 128 KiB: two getMore batches of FerretDB


def test_mysql_create_insert_select_over_tcp(devstack: Stack) -> None:
    url = devstack.env()["MYSQL_URL"]
    user, rest = url.removeprefix("mysql://").split(":", 1)
    password, hostpart = rest.split("@", 1)
    host, port_db = hostpart.split(":", 1)
    port, database = port_db.split("/", 1)
    conn = pymysql.connect(host=host, port=int(port), user=user, password=password, database=database)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE probe (id INT PRIMARY KEY, name VARCHAR(40))")
        cur.execute("INSERT INTO probe VALUES (%s, %s)", (1, "héllo"))
        cur.execute("SELECT name FROM probe WHERE id = 1")
        assert cur.fetchone() == ("héllo",)


def test_rabbitmq_durable_queue_confirm_and_manual_ack(devstack: Stack) -> None:
    params = pika.URLParameters(devstack.env()["AMQP_URL"])
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    conn = pika.BlockingConnection(params)
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare(queue, durable=True)
        ch.basic_publish("", queue, b"payload", pika.BasicProperties(delivery_mode=2), mandatory=True)
        method, props, body = ch.basic_get(queue, auto_ack=False)
        assert body == b"payload" and props.delivery_mode == 2
        ch.basic_nack(method.delivery_tag, requeue=True)  # not acked: it stays
        method, _, body = ch.basic_get(queue, auto_ack=False)
        assert body == b"payload" and method.redelivered
        ch.basic_ack(method.delivery_tag)
        assert ch.queue_declare(queue, passive=True).method.message_count == 0
        ch.queue_delete(queue)
    finally:
        conn.close()


def test_gridfs_round_trip_over_several_get_more_batches_is_byte_identical(devstack: Stack) -> None:
    """40 MiB in 128 KiB chunks: 320 chunks, more than one getMore batch. (300 MB through the
    gateway into this GridFS and back is test_gateway_uploads.py's 300 MB upload.)"""
    client: pymongo.MongoClient = pymongo.MongoClient(devstack.env()["MONGO_URI"])
    db = client.get_default_database()
    # 128 KiB chunks: FerretDB answers getMore with up to 250 documents whatever their size,
    # and 250 x 255 KiB (pymongo's default) would exceed MongoDB's 48 MB message limit.
    bucket = gridfs.GridFSBucket(db, bucket_name=f"probe{uuid.uuid4().hex[:6]}", chunk_size_bytes=128 * 1024)
    digest_in = hashlib.sha256()
    block = os.urandom(MB)
    with bucket.open_upload_stream("big.bin") as up:
        for i in range(SIZE_MB):
            chunk = block[i:] + block[:i]
            digest_in.update(chunk)
            up.write(chunk)
        file_id = up._id
    digest_out = hashlib.sha256()
    size = 0
    with bucket.open_download_stream(file_id) as down:
        while data := down.read(4 * MB):
            digest_out.update(data)
            size += len(data)
    assert size == SIZE_MB * MB
    assert digest_out.hexdigest() == digest_in.hexdigest()
    bucket.delete(file_id)
    client.close()


def test_smtp_message_lands_in_the_mail_folder(devstack: Stack) -> None:
    mail_dir = Path(devstack.env()["MAIL_DIR"])
    subject = f"probe {uuid.uuid4()}"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "devstack@mp4mp3.test", "user@example.test", subject
    msg.set_content("hello")
    with smtplib.SMTP(devstack.env()["SMTP_HOST"], int(devstack.env()["SMTP_PORT"])) as smtp:
        smtp.send_message(msg)
    found = [
        p for p in mail_dir.glob("*.eml") if email.message_from_bytes(p.read_bytes())["Subject"] == subject
    ]
    assert len(found) == 1


def test_down_stops_only_what_up_started(tmp_path: Path) -> None:
    """A second, throwaway devstack (other ports, other folder): up then down leaves nothing."""
    # under .devstack/: postgres and mysql cannot enter pytest's private tmp folders
    scratch = ROOT / ".devstack" / "scratch" / f"down-{uuid.uuid4().hex[:8]}"
    cfg = Config(state=scratch, cache=Config.from_env().cache, ports=Ports(offset=211))
    stack = Stack(cfg)
    # rabbitmq: two processes (its own epmd too); ferretdb stores into postgres
    names = ["smtp", "postgres", "ferretdb", "rabbitmq"]
    try:
        stack.up(names)
        procs = [p.process() for s in stack.select(names) for p in s.processes]
        pids = [p.pid for p in procs if p is not None]
        assert len(pids) == 5
    finally:
        stack.down(names)
        shutil.rmtree(scratch, ignore_errors=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not [_described(pid) for pid in pids if _alive(pid)]
    assert not port_open(cfg.ports.smtp) and not port_open(cfg.ports.mongo)
    assert not port_open(cfg.ports.amqp) and not port_open(cfg.ports.epmd)
    assert not port_open(cfg.ports.postgres)
    # the session's own devstack, which this stack did not start, is untouched
    assert Stack().servers["smtp"].running() and Stack().servers["ferretdb"].running()


def _described(pid: int) -> str:
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        return f"{pid} {proc.status()} (parent {proc.ppid()}): {' '.join(proc.cmdline())}"
    return f"{pid} gone"


def _alive(pid: int) -> bool:
    """Still running: a zombie has ended (an orphan's is reaped by this machine's init when it
    gets to it, seconds later under load; `down` does not wait for that)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
