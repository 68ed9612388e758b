"""A fake SMTP server for tests: aiosmtpd on 127.0.0.1, so smtplib is never mocked.

    fake = FakeSmtp()                       # or FakeSmtp(security="starttls" | "tls", certificate=...)
    fake.start()
    ... send to fake.host:fake.port ...
    fake.messages[0].message["Subject"]
    fake.stop()

or use the `fake_smtp` fixture (plain text, no AUTH until `require_auth`). Faults are injected before the client
acts: `refuse_recipient` / `defer_recipient` answer RCPT TO, `fail_data` answers the end of DATA, `drop_after_data`
records the message and then closes the connection without the final reply (what a client sees when a server crashes
or a network times out after queueing: an unknown outcome), and `disconnect_all` closes every open session as a
server does with idle clients. `connections` counts sessions (each `Received` names its `session` and the `at` time
its DATA ended: messages per connection and per second), `commands` lists the verbs clients sent (EHLO, MAIL, RCPT,
DATA, RSET, QUIT, ...) and `replies` the status lines the server sent, so a test can prove that no "503 sender
already specified" ever happened. `answer_delay` (seconds, 0 by default) holds every 250 after the end of DATA
without blocking the server, so concurrent sessions wait side by side, like a relay's round trip over a network
(bench/workers.py). TLS ("tls", "starttls") uses a fixed self-signed certificate for 127.0.0.1 (`smtp_certificate`
fixture; `Certificate.client_context()` trusts it).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import ssl
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.fakes.telegram_api import InjectedFault, RandomFaults, RandomFaultsReport

__all__ = ["Certificate", "FakeSmtp", "Received", "fake_smtp", "make_certificate", "smtp_certificate"]

HOST = "127.0.0.1"
SMTP_FAULT_KINDS = ("4xx", "drop", "timeout", "slow")
Security = Literal["none", "starttls", "tls"]

# A self-signed test certificate for localhost and 127.0.0.1 (EC P-256, valid 2026-2125), fixed so the tests need
# no key generation; its key protects nothing but these tests.
TEST_CERTIFICATE_PEM = """\
-----BEGIN CERTIFICATE-----
MIIB0jCCAXigAwIBAgIUQATHKPjwcLQ1Ybu62aQ+bl4YFAIwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRbmV3c2JvdCB0ZXN0IFNNVFAwIBcNMjYwMTAxMDAwMDAwWhgP
MjEyNTEyMDgwMDAwMDBaMBwxGjAYBgNVBAMMEW5ld3Nib3QgdGVzdCBTTVRQMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4w7QXRomE+kqyF6PtbqY8St7zBN0jdSH
7gqka0KEvb+2ZTPl7pa/W0Mvjhw1vnv9ZA9kPoKUlLvATYxS7rVWgKOBlTCBkjAa
BgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAoQwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHQYDVR0OBBYEFDMNjN6F
5JmvcxPp1wZQHWxKNXWsMB8GA1UdIwQYMBaAFDMNjN6F5JmvcxPp1wZQHWxKNXWs
MAoGCCqGSM49BAMCA0gAMEUCIGCnmctl/T1ciHIctPcZdcKIp053+xy08OUPM7AL
1MHvAiEA2LecjbLZqAlbpciEDBQ5vgFSfEsO0JbEkQPBBKcuHLU=
-----END CERTIFICATE-----
"""
TEST_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzAxUswgcVMYRdL4C
yWVAaLU2toVP1ZFwf4e0a6JpvIihRANCAATjDtBdGiYT6SrIXo+1upjxK3vME3SN
1IfuCqRrQoS9v7ZlM+Xulr9bQy+OHDW+e/1kD2Q+gpSUu8BNjFLutVaA
-----END PRIVATE KEY-----
"""


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage
    session: int = 0  # which connection brought it (1, 2, ... in the order they opened)
    at: float = 0.0  # time.monotonic() when the end of its DATA arrived


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, as PEM files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate (and checks the host name against it)."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_certificate(directory: Path) -> Certificate:
    """Writes the test certificate and its key to `directory` (ssl loads a server's chain only from files)."""
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_text(TEST_CERTIFICATE_PEM, encoding="ascii")
    key_path.write_text(TEST_KEY_PEM, encoding="ascii")
    return Certificate(cert_path, key_path)


class FakeSmtp(RandomFaultsReport):
    """An SMTP server on 127.0.0.1 with a free port; see the module docstring."""

    def __init__(self, *, security: Security = "none", certificate: Certificate | None = None) -> None:
        if security != "none" and certificate is None:
            raise ValueError(f"security={security!r} needs a certificate (make_certificate)")
        self.security = security
        self.certificate = certificate
        self.host = HOST
        self.port = 0
        self.messages: list[Received] = []
        self.commands: list[str] = []
        self.replies: list[str] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._refused: dict[str, str] = {}
        self._data_failures: list[str] = []
        self._drops = 0
        self._credentials: tuple[str, str] | None = None
        self._controller: _Controller | None = None
        self._sessions: list[SMTP] = []
        self._random: RandomFaults | None = None
        self._random_delays = (0.0, 0.0)  # (timeout, slow)
        self.data_log: list[tuple[str, str]] = []  # (recipient, what the end of DATA got) for every message
        self.answer_delay = 0.0  # seconds every 250 after DATA waits (asyncio.sleep: sessions wait concurrently)

    # --- life cycle --------------------------------------------------------------------------------------------

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.certificate and self.security == "tls":
            kwargs["ssl_context"] = self.certificate.server_context()
        elif self.certificate and self.security == "starttls":
            kwargs["tls_context"] = self.certificate.server_context()
            kwargs["require_starttls"] = True
        self._controller = _Controller(self, **kwargs)
        self._controller.start()
        self.port = self._controller.port
        with self._lock:  # forget the session Controller.start opened to check the server answers
            self.connections = 0
            self.commands.clear()
            self.replies.clear()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSmtp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- fault injection ---------------------------------------------------------------------------------------

    def refuse_recipient(self, address: str, code: int = 550, text: str = "5.1.1 User unknown") -> None:
        """Answer RCPT TO for `address` with `code` `text`, every time."""
        with self._lock:
            self._refused[address.lower()] = f"{code} {text}"

    def defer_recipient(self, address: str, code: int = 451, text: str = "4.2.0 Mailbox busy, try later") -> None:
        self.refuse_recipient(address, code, text)

    def fail_data(self, times: int = 1, code: int = 451, text: str = "4.3.0 Temporary failure, try later") -> None:
        """Answer the end of DATA of the next `times` messages with `code` `text` (nothing is recorded)."""
        with self._lock:
            self._data_failures.extend([f"{code} {text}"] * times)

    def drop_after_data(self, times: int = 1) -> None:
        """Record the next `times` messages, then close the connection instead of answering 250."""
        with self._lock:
            self._drops += times

    def random_faults(
        self,
        rate: float,
        kinds: Iterable[str] = SMTP_FAULT_KINDS,
        *,
        seed: int = 0,
        timeout_delay: float = 1.0,
        slow_delay: float = 0.2,
    ) -> None:
        """From now on the end of DATA of each message gets, with probability `rate`, one of `kinds`:

        * "4xx": 451 4.3.0, nothing recorded (a deferral: the client should try again later);
        * "drop": recorded, then the connection is closed without the final reply;
        * "timeout": recorded, the 250 comes after `timeout_delay` s (set it above the client's time-out);
        * "slow": recorded, the 250 comes after `slow_delay` s (below the client's time-out).

        "drop" and "timeout" leave the client unsure whether the message was taken (`delivered` in `fault_log`).
        """
        with self._lock:
            self._random = RandomFaults(rate, kinds, seed, SMTP_FAULT_KINDS)
            self._random_delays = (timeout_delay, slow_delay)

    def require_auth(self, username: str, password: str) -> None:
        """From the next connection on: AUTH PLAIN / LOGIN with these credentials before MAIL (no TLS needed)."""
        with self._lock:
            self._credentials = (username, password)

    def disconnect_all(self) -> None:
        """Close every open session from the server's side, as a server does with idle clients."""
        controller = self._controller
        assert controller is not None, "start() first"
        done = threading.Event()

        def close() -> None:
            for session in self._sessions:
                if session.transport is not None:
                    session.transport.abort()
            done.set()

        controller.loop.call_soon_threadsafe(close)
        done.wait(5)

    # --- what the server saw -----------------------------------------------------------------------------------

    def mail_from_per_session(self) -> list[int]:
        """How many MAIL commands each session sent between resets; > 1 would be a nested MAIL (503)."""
        counts: list[int] = []
        open_mail = 0
        for verb in self.commands:
            if verb in ("EHLO", "HELO", "RSET") or verb.startswith("SESSION"):
                open_mail = 0
            elif verb == "MAIL":
                open_mail += 1
                counts.append(open_mail)
            elif verb == "DATA-END":
                open_mail = 0
        return counts

    # --- called by the server thread ---------------------------------------------------------------------------

    def _session(self, handler: _Handler, smtp_kwargs: dict[str, Any]) -> SMTP:
        with self._lock:
            self.connections += 1
            self.commands.append(f"SESSION {self.connections}")
            credentials = self._credentials
        kwargs = dict(smtp_kwargs)
        if credentials is not None:
            kwargs.update(auth_required=True, auth_require_tls=False, authenticator=_Authenticator(*credentials))
        with warnings.catch_warnings():  # "Requiring AUTH while not requiring TLS": on purpose, on 127.0.0.1
            warnings.simplefilter("ignore")
            session = _RecordingSMTP(handler, fake=self, **kwargs)
        session.number = self.connections
        self._sessions.append(session)
        return session

    def _record(self, command: str = "", reply: str = "") -> None:
        with self._lock:
            if command:
                self.commands.append(command)
            if reply:
                self.replies.append(reply)

    def _rcpt_answer(self, address: str) -> str | None:
        with self._lock:
            return self._refused.get(address.lower())

    def _random_data_fault(self, envelope: Envelope) -> tuple[str | None, float]:
        """This message's random fault (or None), and how long to hold its 250 ("timeout", "slow")."""
        with self._lock:
            fault = self._random.pick() if self._random else None
            recipient = ",".join(str(r) for r in envelope.rcpt_tos)
            self.data_log.append((recipient, fault or "ok"))
            if fault is None or self._random is None:
                return None, 0.0
            delivered = fault in ("drop", "timeout") and not self._data_failures
            self._random.record(InjectedFault(fault, recipient, time.monotonic(), delivered=delivered))
            timeout_delay, slow_delay = self._random_delays
            return fault, {"timeout": timeout_delay, "slow": slow_delay}.get(fault, 0.0)

    def _data_answer(self, envelope: Envelope, session: int) -> tuple[str | None, bool]:
        """(a failure to answer instead of 250, or None; whether to drop the connection after recording)."""
        arrived = time.monotonic()
        with self._lock:
            if self._data_failures:
                return self._data_failures.pop(0), False
            data = bytes(envelope.original_content or b"")
            message = email.message_from_bytes(data, policy=email.policy.default)
            self.messages.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    data,
                    cast(EmailMessage, message),
                    session,
                    arrived,
                )
            )
            if self._drops:
                self._drops -= 1
                return None, True
            return None, False


class _Handler:
    def __init__(self, fake: FakeSmtp) -> None:
        self.fake = fake

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self.fake._rcpt_answer(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.fake._record("DATA-END")
        fault, delay = self.fake._random_data_fault(envelope)
        if fault == "4xx":
            return "451 4.3.0 Temporary failure, try later"
        failure, drop = self.fake._data_answer(envelope, cast(_RecordingSMTP, server).number)
        if failure:
            return failure
        if (drop or fault == "drop") and server.transport is not None:
            server.transport.abort()  # no 250: the client cannot know whether the message was taken
        if delay + self.fake.answer_delay > 0:
            await asyncio.sleep(delay + self.fake.answer_delay)
        return "250 OK: queued"


class _Authenticator:
    def __init__(self, username: str, password: str) -> None:
        self.credentials = (username.encode(), password.encode())

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == self.credentials
        return AuthResult(success=ok, handled=False)


def _recorded(verb: str, method: Callable[[SMTP, str], Awaitable[None]]) -> Callable[[SMTP, str], Awaitable[None]]:
    @functools.wraps(method)  # keeps aiosmtpd's syntax attributes, which HELP and the dispatcher read
    async def wrapper(self: SMTP, arg: str) -> None:
        cast(_RecordingSMTP, self).fake._record(verb)
        await method(self, arg)

    return wrapper


class _RecordingSMTP(SMTP):  # type: ignore[misc]
    def __init__(self, handler: _Handler, *, fake: FakeSmtp, **kwargs: Any) -> None:
        self.fake = fake
        self.number = 0
        super().__init__(handler, **kwargs)

    smtp_EHLO = _recorded("EHLO", SMTP.smtp_EHLO)
    smtp_HELO = _recorded("HELO", SMTP.smtp_HELO)
    smtp_STARTTLS = _recorded("STARTTLS", SMTP.smtp_STARTTLS)
    smtp_AUTH = _recorded("AUTH", SMTP.smtp_AUTH)
    smtp_MAIL = _recorded("MAIL", SMTP.smtp_MAIL)
    smtp_RCPT = _recorded("RCPT", SMTP.smtp_RCPT)
    smtp_DATA = _recorded("DATA", SMTP.smtp_DATA)
    smtp_RSET = _recorded("RSET", SMTP.smtp_RSET)
    smtp_NOOP = _recorded("NOOP", SMTP.smtp_NOOP)
    smtp_QUIT = _recorded("QUIT", SMTP.smtp_QUIT)

    async def push(self, status: str | bytes) -> None:
        self.fake._record(reply=status.decode() if isinstance(status, bytes) else status)
        await super().push(status)


class _Controller(Controller):  # type: ignore[misc]
    """aiosmtpd's Controller on port 0: the port is read from the bound socket once the server listens."""

    def __init__(self, fake: FakeSmtp, **kwargs: Any) -> None:
        super().__init__(_Handler(fake), hostname=HOST, port=0, **kwargs)
        self.fake = fake

    def factory(self) -> SMTP:
        return self.fake._session(self.handler, self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture(scope="session")
def smtp_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def fake_smtp() -> Iterator[FakeSmtp]:
    """A started plain-text FakeSmtp; stopped after the test."""
    fake = FakeSmtp()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
