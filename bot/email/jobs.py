"""The digest job as `App` runs it: the live one over the mail parts, or a dry run that writes `.eml` files."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.config import Config
from bot.email.delivery import DigestStore, EmailDigest, LinkMaker, MailSender
from bot.errors import ConfigError
from bot.render import Digest, Renderer

if TYPE_CHECKING:
    from email.message import EmailMessage

    from bot.email.identity import DkimKey, MailIdentity
    from bot.email.parts import EmailParts
    from bot.email.tokens import LinkSigning, TokenSigner


def build_email_digest(config: Config, store: DigestStore, renderer: Renderer, parts: EmailParts) -> EmailDigest:
    """The live digest job: over the [email] connections of `parts`, links signed on [web] public_url, DKIM when
    configured."""
    links = _signed_links(config, parts.signer)
    job = _email_digest(config, store, renderer, parts.sender, links, parts.identity, parts.dkim)
    job.senders = parts.connections
    return job


def build_dry_run_digest(config: Config, store: DigestStore, renderer: Renderer, signing: LinkSigning) -> EmailDigest:
    """The digest job of a dry run: each mail an `.eml` file (bot.publishers.file_sink.EmlWriter), unsigned.

    It needs no secret: without [email] sender, [web] public_url or the signing key, the mail shows placeholders.
    """
    from bot.email.identity import MailIdentity
    from bot.publishers.file_sink import EmlWriter

    identity = MailIdentity.from_config(replace(config.email, sender=config.email.sender or DRY_RUN_SENDER))
    links = _dry_run_links(config, signing)
    return _email_digest(config, store, renderer, EmlWriter(config.output.dir), links, identity, None)


def _email_digest(
    config: Config,
    store: DigestStore,
    renderer: Renderer,
    sender: MailSender,
    links: LinkMaker,
    identity: MailIdentity,
    dkim: DkimKey | None,
) -> EmailDigest:
    def build(digest: Digest, to: str, name: str, unsubscribe: str, mailto: str, now: datetime) -> EmailMessage:
        # imported at the first mail: the email package's headers (~10 ms), and `once` with nothing due sends none
        from bot.email.message import build_digest_message

        return build_digest_message(
            digest, identity=identity, to=to, to_name=name, unsubscribe_url=unsubscribe, unsubscribe_mailto=mailto,
            now=now, dkim=dkim,
        )  # fmt: skip

    return EmailDigest(store, renderer, config, sender, links, build)


DRY_RUN_SENDER = "newsbot dry run <newsbot@example.invalid>"  # [email] sender, when a dry run has none
DRY_RUN_PUBLIC_URL = "https://newsbot.example.invalid"  # [web] public_url, when a dry run has none


def _signed_links(config: Config, signer: TokenSigner) -> LinkMaker:
    """The unsubscribe and preferences links, signed with the secret key on [web] public_url."""
    if not config.web.public_url:
        raise ConfigError(
            f"{config.path or 'config'}: web.public_url: needed for the unsubscribe and preferences links in the"
            " digest; set it to where subscribers reach `newsbot web`"
        )

    # Imported when a link is made: bot.email.web loads Starlette (~40 ms), and a cycle with no digest due makes none.
    class Links:
        def unsubscribe(self, address: str, now: datetime) -> str:
            from bot.email import web

            return web.unsubscribe_url(config, signer, address, now)

        def preferences(self, address: str, now: datetime) -> str:
            from bot.email import web

            return web.preferences_url(config, signer, address, now)

    return Links()


def _dry_run_links(config: Config, signing: LinkSigning) -> LinkMaker:
    """The real links when [web] public_url and the key are set; else placeholders that no server accepts."""
    try:
        return _signed_links(config, signing.signer())
    except ConfigError:
        base = (config.web.public_url or DRY_RUN_PUBLIC_URL).rstrip("/")

        class Placeholders:
            def unsubscribe(self, address: str, now: datetime) -> str:
                return f"{base}/unsubscribe?dry-run"

            def preferences(self, address: str, now: datetime) -> str:
                return f"{base}/preferences?dry-run"

        return Placeholders()
