"""Webhook rules that need no server: which URLs may receive deliveries, the signature, the body."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json

import pytest

from common import webhooks
from notification.webhooks import payload, signed_headers
from tests.support.notification_harness import failed_event, succeeded_event

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://10.0.0.8/x",
        "http://172.16.3.4/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest",
        "http://100.64.0.1/x",  # carrier-grade NAT
        "http://0.0.0.0/x",
        "http://[::1]/x",
        "http://[fd00::1]/x",
        "http://[fe80::1]/x",
        "http://[::ffff:10.0.0.1]/x",  # IPv4-mapped
        "http://224.0.0.1/x",
    ],
)
def test_private_and_reserved_addresses_are_refused(url: str) -> None:
    with pytest.raises(webhooks.UnsafeUrl, match="private or reserved"):
        webhooks.check_address(url)


def test_an_allowed_network_lets_only_its_addresses_through() -> None:
    webhooks.check_address("http://127.0.0.1:9000/hook", LOOPBACK)
    webhooks.check_address("http://8.8.8.8/hook")  # public: always
    with pytest.raises(webhooks.UnsafeUrl):
        webhooks.check_address("http://10.0.0.1/hook", LOOPBACK)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/x", "only http"),
        ("file:///etc/passwd", "only http"),
        ("http:///nohost", "no host"),
        ("https://me:pw@example.com/", "user name or password"),
        ("http://example.com:99999/", "port"),
        ("https://example.com/" + "a" * 2048, "longer than"),
    ],
)
def test_unusable_urls_are_refused_with_a_reason(url: str, says: str) -> None:
    with pytest.raises(webhooks.UnsafeUrl, match=says):
        webhooks.check_syntax(url)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"e1"}'
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert webhooks.sign("whsec_k", 1700000000, body) == f"sha256={expected}"
    assert webhooks.verify("whsec_k", f"sha256={expected}", "1700000000", body, now=1700000100)
    assert not webhooks.verify("whsec_k", f"sha256={expected}", "1700000000", body, now=1700000400)  # stale
    assert not webhooks.verify("whsec_k", f"sha256={expected}", "1700000001", body, now=1700000100)
    assert not webhooks.verify("whsec_k", f"sha256={expected}", "soon", body)


def test_the_body_says_what_the_job_view_says_and_no_email() -> None:
    ok, bad = succeeded_event("ann@example.test"), failed_event("bob@example.test")

    good = json.loads(payload(ok, "https://api.example.test/"))
    failed = json.loads(payload(bad, "https://api.example.test"))

    assert good["job"]["download"] == f"https://api.example.test/jobs/{ok.job.name}/mp3"
    assert good["job"]["phase"] == "Succeeded" and good["id"] == ok.event_id
    assert failed["job"]["reason"] == "NoAudioStream" and "download" not in failed["job"]
    assert "@example.test" not in json.dumps([good, failed])
    headers = signed_headers("whsec_k", ok, b"{}", now=1700000000)
    assert headers[webhooks.EVENT_ID_HEADER] == ok.event_id
    assert headers[webhooks.SIGNATURE_HEADER] == webhooks.sign("whsec_k", 1700000000, b"{}")
