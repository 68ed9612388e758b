"""Email publisher: SMTP sending of one message at a time over one reused connection, within a send rate.

Limits: at most `[email] send_rate` messages per second (a message's turn is counted when it starts, failed
or not), counted by a `SendRate` that every sender to the one server shares, whatever the number of connections
(bot.email.connections sends a digest batch over `[email] connections` of them); `smtp_timeout` seconds for any
one read or write. The connection opens on the first `send` and stays
open: EHLO, STARTTLS (security = "starttls"; "tls" is TLS from the first byte, "none" plain text, for a relay
on localhost only), EHLO again, then AUTH when a username is given. Each message is one transaction
MAIL FROM / RCPT TO / DATA to exactly one recipient, driven step by step so a failure is known by its stage.

After any error in a transaction the session is reset with RSET before the next message, and when RSET
fails too the connection is dropped and the next message opens a new one: a failure never leaves a
half-open transaction behind (which the server would answer with "503 sender already specified"). A reused
connection that turns out to be closed (servers drop idle clients) before any byte of the message was sent
is reopened once and the message sent again: nothing can have been delivered.

How SMTP outcomes become newsbot's errors (see bot.errors; the outbox decides what happens next):

    250 after the message's final "."                    -> accepted; `send` returns the Message-ID
    any 4xx reply (421 included), anywhere              -> PublishError: transient, retry later
    connection refused, DNS failure, timeout, TLS or
      STARTTLS failure, dropped before the message's
      content was completely written                    -> PublishError: nothing was delivered, retry later
    login refused (535, SMTPAuthenticationError), no
      AUTH offered, 530 "authentication required"       -> Unauthorized: stop the channel, keep its queue
    5xx to RCPT TO                                      -> RecipientGone: the subscriber is marked bounced
      ... unless its enhanced status says the address is not the problem: x.7.x (policy, relaying
      denied, spam block), x.3.x / x.4.x / x.5.x (the server or the protocol) -> Rejected, and
      5.2.2 / 552 "mailbox full" -> PublishError (try again later)
    5xx to MAIL FROM or DATA, or after the content      -> Rejected: this message is refused for good
      ... except an x.1.x or 5.2.1 status (the recipient's address or mailbox), which some servers
      only give after DATA -> RecipientGone
    connection dropped or timed out after the whole
      content was written, before the final reply       -> UnknownOutcome: the server may have queued it;
                                                           the caller must not blindly send it again

A 5xx to RCPT TO is read by its enhanced status code where there is one, because "550 5.7.1 Relaying denied"
turned into RecipientGone would mark every subscriber as bounced over a configuration problem.

Logs are `event=smtp_... key=value` lines (bot.logs.kv); the password is never logged.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from types import TracebackType
from typing import Final

from bot.config import EmailConfig
from bot.errors import PublishError, RecipientGone, Rejected, Unauthorized, UnknownOutcome
from bot.logs import kv
from bot.ratelimit import SendRate  # lives with the other limits; imported from here too

__all__ = ["SendRate", "SmtpSender"]

log = logging.getLogger("newsbot.email")

_ENHANCED_STATUS: Final = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_CRLF: Final = b"\r\n"


class _Lost(Exception):
    """The connection broke before the message's content was completely written: nothing was delivered."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"SMTP connection lost at {stage}: {reason}")
        self.stage = stage


class SmtpSender:
    """Sends ready-built messages (bot.email.message) through one SMTP server; see the module docstring for errors."""

    channel: Final = "email"
    default_ports: Final = {"starttls": 587, "tls": 465, "none": 25}  # for the docs; the config sets the port

    def __init__(
        self,
        config: EmailConfig,
        *,
        username: str = "",
        password: str = "",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        rate: SendRate | None = None,
    ) -> None:
        """`rate`: the turns this sender shares with the others to the same server; None: its own, at send_rate."""
        self._config = config
        self._username = username
        self._password = password
        self._sleep = sleep
        self._ssl_context = ssl_context  # None: the system's trusted CAs, hostname checked
        self._local_hostname = local_hostname
        self._rate = rate or SendRate(config.send_rate, clock)
        self._conn: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- sending --------------------------------------------------------------------------------------------

    def send(self, message: EmailMessage) -> str:
        """Send `message` to its one To/Cc address; return its Message-ID once the server said 250."""
        message_id = str(message.get("Message-ID", "")).strip()
        if not message_id:
            raise ValueError("the message has no Message-ID header")
        if "Bcc" in message:
            raise ValueError("the message has a Bcc header: send one message per recipient instead")
        sender = parseaddr(str(message.get("Sender") or message.get("From") or ""))[1]
        recipients = [addr for _, addr in getaddresses([str(v) for v in message.get_all("To", [])]) if addr]
        recipients += [addr for _, addr in getaddresses([str(v) for v in message.get_all("Cc", [])]) if addr]
        if not sender or len(recipients) != 1:
            raise ValueError(f"a message needs a From address and exactly one recipient, got {recipients!r}")
        recipient = recipients[0]
        if not (sender.isascii() and recipient.isascii()):
            raise Rejected(f"address {recipient!r} is not ASCII: it needs SMTPUTF8, which newsbot does not use")
        data = _wire_format(message.as_bytes())

        self._wait_turn()
        reused = self._conn is not None
        try:
            self._attempt(sender, recipient, data)
        except _Lost as lost:
            self._drop()
            if not reused:
                raise PublishError(str(lost)) from None
            # The kept connection had been closed by the server: nothing was sent, try once on a new one.
            log.info("%s", kv(event="smtp_reconnect", host=self._config.smtp_host, stage=lost.stage))
            try:
                self._attempt(sender, recipient, data)
            except _Lost as again:
                self._drop()
                raise PublishError(str(again)) from None
        log.info("%s", kv(event="smtp_sent", message_id=message_id))
        return message_id

    def close(self) -> None:
        """QUIT and close the connection, if one is open; errors on the way out are ignored."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()
        log.info("%s", kv(event="smtp_closed", host=self._config.smtp_host))

    def seconds_until_turn(self) -> float:
        """How long the next send would wait for its turn under `[email] send_rate` (0: it may go now)."""
        return self._rate.seconds_until_turn()

    def _wait_turn(self) -> None:
        wait = self._rate.reserve() - self._rate.clock()
        if wait > 0:
            self._sleep(wait)

    def _attempt(self, sender: str, recipient: str, data: bytes) -> None:
        try:
            self._transaction(self._connection(), sender, recipient, data)
        except (PublishError, _Lost):
            raise  # the session was reset, or dropped, on the way
        except BaseException:  # interrupted half-way: the session's state is unknown, never reuse it
            self._drop()
            raise

    def _transaction(self, conn: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
        """One MAIL / RCPT / DATA exchange; raises _Lost while nothing can have been delivered."""
        stage = "MAIL"
        try:
            code, reply = conn.mail(sender)
            if code != 250:
                raise self._refused(conn, stage, code, reply, recipient)
            stage = "RCPT"
            code, reply = conn.rcpt(recipient)
            if code not in (250, 251):
                raise self._refused(conn, stage, code, reply, recipient)
            stage = "DATA"
            code, reply = conn.docmd("DATA")
            if code != 354:
                raise self._refused(conn, stage, code, reply, recipient)
            stage = "content"
            conn.send(data)  # sendall: when it fails, the final "." was not written
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise _Lost(stage, str(error) or type(error).__name__) from None
        # Everything is written: from here on the server may hold the message.
        stage = "end of data"
        try:
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self._drop()
            log.warning("%s", kv(event="smtp_unknown_outcome", host=self._config.smtp_host, reason=str(error)))
            raise UnknownOutcome(
                f"SMTP {self._config.smtp_host}: the connection broke after the message was sent, before the "
                f"server confirmed it ({error}); it may have been delivered"
            ) from None
        if code != 250:
            raise self._refused(conn, stage, code, reply, recipient)

    def _refused(self, conn: smtplib.SMTP, stage: str, code: int, reply: bytes, recipient: str) -> PublishError:
        """The error for a refusal at `stage`, after putting the session back to a clean state."""
        text = reply.decode("utf-8", "replace").replace("\n", " ")
        log.warning("%s", kv(event="smtp_refused", stage=stage, code=code, reply=text, to=recipient))
        if code == 421 or code < 200 or code >= 600:  # the server is closing the connection, or talks nonsense
            self._drop()
        else:
            self._reset(conn)
        return _error_for(stage, code, text, host=self._config.smtp_host)

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            code, _ = conn.rset()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            log.info("%s", kv(event="smtp_reset_failed", host=self._config.smtp_host, code=code))
            self._drop()

    # --- the connection -------------------------------------------------------------------------------------

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        where = f"SMTP {config.smtp_host}:{config.smtp_port} ({config.security})"
        local_hostname = self._local_hostname or _local_hostname(config.sender)
        try:
            conn: smtplib.SMTP
            if config.security == "tls":
                conn = smtplib.SMTP_SSL(
                    config.smtp_host,
                    config.smtp_port,
                    local_hostname=local_hostname,
                    timeout=config.smtp_timeout,
                    context=self._tls_context(),
                )
            else:
                conn = smtplib.SMTP(
                    config.smtp_host, config.smtp_port, local_hostname=local_hostname, timeout=config.smtp_timeout
                )
        except (smtplib.SMTPException, OSError) as error:
            raise PublishError(f"{where}: cannot connect: {_describe(error)}") from error
        if conn.sock is not None:  # without it the message's last segment waits ~40 ms for a delayed ACK
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn.ehlo_or_helo_if_needed()
            if config.security == "starttls":
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if self._username:
                conn.login(self._username, self._password)
        except smtplib.SMTPAuthenticationError as error:
            conn.close()
            raise Unauthorized(f"{where}: login refused: {_describe(error)}") from None
        except smtplib.SMTPNotSupportedError as error:
            conn.close()
            if "AUTH" in str(error):  # a username is configured, the server offers no login
                raise Unauthorized(f"{where}: {error} (check [email] security and the credentials)") from None
            raise PublishError(f'{where}: {error}; check [email] security ("tls" for port 465)') from None
        except smtplib.SMTPException as error:
            conn.close()
            if "authentication" in str(error).lower():  # "No suitable authentication method found."
                raise Unauthorized(f"{where}: {error}") from None
            raise PublishError(f"{where}: {_describe(error)}") from error
        except OSError as error:  # TLS handshake or certificate failure, timeout, reset
            conn.close()
            raise PublishError(f"{where}: {_describe(error)}") from error
        log.info(
            "%s",
            kv(
                event="smtp_connected",
                host=config.smtp_host,
                port=config.smtp_port,
                security=config.security,
                auth="yes" if self._username else "no",
            ),
        )
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()


def _error_for(stage: str, code: int, text: str, *, host: str) -> PublishError:
    """The newsbot error for SMTP reply `code` `text` at `stage` (MAIL, RCPT, DATA, end of data)."""
    message = f"{code} {text}"
    where = f"SMTP {host} at {stage}: {message}"
    status = _ENHANCED_STATUS.match(text)
    subject, detail = (int(status.group(2)), int(status.group(3))) if status else (None, None)
    if code < 500:
        return PublishError(where)
    if code in (530, 535) or (subject, detail) == (7, 8):
        return Unauthorized(where)
    mailbox_full = (code == 552 and subject is None) or (subject, detail) == (2, 2)
    about_recipient = subject == 1 or (subject, detail) == (2, 1)
    if stage == "RCPT":
        if mailbox_full:
            return PublishError(where)
        if subject in (3, 4, 5, 7):
            return Rejected(where)
        return RecipientGone(message)
    if about_recipient and stage != "MAIL":
        return RecipientGone(message)
    if mailbox_full and stage != "MAIL":
        return PublishError(where)
    return Rejected(where)


def _wire_format(data: bytes) -> bytes:
    """The DATA content: CRLF line ends, leading dots doubled, ended by CRLF "." CRLF (RFC 5321 4.5.2)."""
    # bytes.replace (C) rather than a regular expression: a digest has about a thousand lines.
    data = data.replace(_CRLF, b"\n").replace(b"\r", b"\n").replace(b"\n", _CRLF)
    data = (b"." if data.startswith(b".") else b"") + data.replace(b"\n.", b"\n..")
    if not data.endswith(_CRLF):
        data += _CRLF
    return data + b"." + _CRLF


def _local_hostname(sender: str) -> str:
    """The name to say in EHLO: this host's FQDN, or the sender's domain when the host has no dotted name."""
    fqdn = socket.getfqdn()
    if "." in fqdn and not fqdn.startswith("localhost"):
        return fqdn
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return domain or "localhost"


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error
        return f"{error.smtp_code} {reply.decode('utf-8', 'replace') if isinstance(reply, bytes) else reply}"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return str(error) or type(error).__name__
