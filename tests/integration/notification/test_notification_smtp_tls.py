"""Mail to an SMTP relay that demands STARTTLS and a login, as real providers do: a throwaway
aiosmtpd server with a certificate from a test CA and a password."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from common.retries import PARKED_REASON_HEADER
from devstack.config import Ports
from devstack.pki import PKI
from tests.support.notification_harness import TLS_SMTP_OFFSET, Notifier, succeeded_event, unique

pytestmark = pytest.mark.devstack

USER, PASSWORD = "mailer", "correct horse battery"


@dataclass
class Received:
    recipients: list[str]
    over_tls: bool
    authenticated: bool


@dataclass
class Relay:
    port: int
    ca_file: Path
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(
            Received(list(envelope.rcpt_tos), session.ssl is not None, bool(session.authenticated))
        )
        return "250 OK"


def _check_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 235 or 535 itself


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    pki = PKI(tmp_path / "pki")
    pki.ensure({})  # a CA and a serving certificate for 127.0.0.1/localhost
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(pki.path("apiserver.crt"), pki.path("apiserver.key"))
    relay = Relay(port=Ports(offset=TLS_SMTP_OFFSET).smtp, ca_file=pki.path("ca.crt"))
    controller = Controller(
        relay,
        hostname="127.0.0.1",
        port=relay.port,
        tls_context=tls,
        require_starttls=True,
        authenticator=_check_login,
        auth_require_tls=True,
    )
    controller.start()
    yield relay
    controller.stop()


def settings_for(relay: Relay, password: str) -> dict[str, str]:
    return {
        "NOTIFY_SMTP_STARTTLS": "true",
        "NOTIFY_SMTP_USER": USER,
        "NOTIFY_SMTP_PASSWORD": password,
        "NOTIFY_SMTP_CA_FILE": str(relay.ca_file),
    }


def test_mail_goes_out_over_starttls_after_login(
    start_notifier: Callable[..., Notifier], relay: Relay
) -> None:
    notifier = start_notifier(smtp_port=relay.port, **settings_for(relay, PASSWORD))
    recipient = f"{unique('ivy')}@example.test"

    notifier.publish(succeeded_event(recipient))

    notifier.wait(lambda: len(relay.received) == 1, 30, "the relay to accept the mail")
    assert relay.received == [Received([recipient], over_tls=True, authenticated=True)]


def test_a_wrong_smtp_password_is_retried_then_parked_with_the_servers_answer(
    start_notifier: Callable[..., Notifier], relay: Relay
) -> None:
    notifier = start_notifier(
        smtp_port=relay.port, NOTIFY_MAX_ATTEMPTS="2", **settings_for(relay, "wrong password")
    )

    notifier.publish(succeeded_event(f"{unique('jay')}@example.test"))

    notifier.wait(lambda: notifier.count(f"{notifier.queue}.parked") == 1, 30, "the message to be parked")
    [(props, _)] = notifier.take_parked()
    assert "535" in str(props.headers[PARKED_REASON_HEADER])  # authentication failed
    assert relay.received == []
