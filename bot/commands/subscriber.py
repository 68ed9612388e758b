"""Commands anyone may use in a private chat with the bot: subscribe, pick hashtags, read the latest articles.

A subscriber is the store's (channel "telegram", address = the chat id). No hashtags and no watch words means
"everything routed to subscribers"; otherwise articles carrying one of their hashtags or containing one of their watch
words (/watch). An article containing one of their mute words (/mute) never reaches them. Words follow
`bot.keywords`; the store decides who gets an article (`enqueue_for_subscribers`).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Final

from bot import telegram_html
from bot.addresses import InputRuleError, parse_address
from bot.commands.admin import ADMIN_COMMANDS, is_admin
from bot.commands.context import (
    Command,
    CommandContext,
    InputError,
    Reply,
    Request,
    argument,
    echo,
    parse_count,
    parse_hashtags,
    parse_words,
    reply,
)
from bot.email.signups import RATE_WINDOW, MailboxLimited, SignUp
from bot.hashtags import MAX_FOLLOWED_TAGS, normalize
from bot.keywords import MAX_SUBSCRIBER_WORDS, contains_any, fold, searchable
from bot.logs import kv
from bot.models import Article
from bot.store import MUTE, WATCH, Subscriber

__all__ = ["CHANNEL", "SUBSCRIBER_COMMANDS", "fallback", "popular_tags"]

log = logging.getLogger("newsbot.commands")

CHANNEL: Final = "telegram"
STOP_REASON: Final = "stopped by user"
POPULAR_SAMPLE: Final = 500  # newest articles looked at for popular hashtags
POPULAR_SHOWN: Final = 10
LATEST_SAMPLE: Final = 300  # newest Telegram articles searched for ones matching a subscriber's tags
BROADCAST_SOURCE: Final = "broadcast"
EMAIL_COMMAND_LIMIT: Final = "email command"  # the store's rate_events kind: /email per chat
EMAIL_REQUESTS_PER_CHAT: Final = 3  # an hour
WELCOME_TEMPLATE: Final = "welcome.html.j2"
HELP_TEMPLATE: Final = "help.html.j2"


def start(ctx: CommandContext, request: Request) -> Reply:
    address = str(request.chat_id)
    if not ctx.store.subscribe(CHANNEL, address, ctx.clock()):
        interests = _interests(ctx, _subscriber(ctx, request))
        return reply(f"You are already subscribed. {interests} /help lists the commands.")
    return reply(ctx.render_page(WELCOME_TEMPLATE, name=request.first_name, commands=_menu(SUBSCRIBER_COMMANDS)))


def stop(ctx: CommandContext, request: Request) -> Reply:
    if ctx.store.deactivate_subscriber(CHANNEL, str(request.chat_id), STOP_REASON, ctx.clock()):
        return reply("You are unsubscribed and will get no more articles. /start brings you back.")
    return reply("You are not subscribed. /start subscribes you.")


def subscribe(ctx: CommandContext, request: Request) -> Reply:
    tags = parse_hashtags(argument(request.args))
    if not tags:
        return reply(
            "Send the hashtags you want after the command, for example <code>/subscribe #Climate #World</code>."
            + _popular_line(ctx)
        )
    joined = _ensure_subscribed(ctx, request)
    current = _subscriber(ctx, request).hashtags
    known = {normalize(tag) for tag in current}
    new = [tag for tag in tags if normalize(tag) not in known]
    if len(current) + len(new) > MAX_FOLLOWED_TAGS:
        raise InputError(
            f"You can follow at most {MAX_FOLLOWED_TAGS} hashtags; you follow {len(current)} and sent "
            f"{len(new)} new ones. /unsubscribe some first. Nothing was changed."
        )
    ctx.store.add_subscriber_tags(CHANNEL, str(request.chat_id), new, ctx.clock())
    welcome = "You are subscribed. " if joined else ""
    return reply(welcome + _interests(ctx, _subscriber(ctx, request)))


def unsubscribe(ctx: CommandContext, request: Request) -> Reply:
    tags = parse_hashtags(argument(request.args))
    if not tags:
        return reply(
            "Send the hashtags to drop after the command, for example <code>/unsubscribe #Sports</code>. "
            "/stop stops all messages."
        )
    subscriber = ctx.store.subscriber(CHANNEL, str(request.chat_id))
    if subscriber is None or not subscriber.active:
        return reply("You are not subscribed. /start subscribes you.")
    followed = {normalize(tag) for tag in subscriber.hashtags}
    not_followed = [tag for tag in tags if normalize(tag) not in followed]
    ctx.store.remove_subscriber_tags(CHANNEL, str(request.chat_id), tags, ctx.clock())
    note = f"You did not follow {_tag_list(not_followed)}. " if not_followed else ""
    return reply(note + _interests(ctx, _subscriber(ctx, request)))


def tags(ctx: CommandContext, request: Request) -> Reply:
    argument(request.args)
    subscriber = ctx.store.subscriber(CHANNEL, str(request.chat_id))
    if subscriber is None or not subscriber.active:
        return reply("You are not subscribed. /start subscribes you." + _popular_line(ctx))
    return reply(_interests(ctx, subscriber) + _popular_line(ctx))


def latest(ctx: CommandContext, request: Request) -> Reply:
    count = parse_count(argument(request.args), default=5, low=1, high=20)
    subscriber = ctx.store.subscriber(CHANNEL, str(request.chat_id))
    wants = _Wants(
        tags=frozenset(normalize(tag) for tag in subscriber.hashtags) if subscriber else frozenset(),
        watch=tuple(fold(word) for word in ctx.store.subscriber_words(CHANNEL, str(request.chat_id), WATCH)),
        mute=tuple(fold(word) for word in ctx.store.subscriber_words(CHANNEL, str(request.chat_id), MUTE)),
    )
    found = [
        article
        for article in ctx.store.recent_articles(LATEST_SAMPLE, channel=CHANNEL)
        if article.source != BROADCAST_SOURCE and wants.article(article)
    ][:count]
    if not found:
        return reply("No articles yet" + (" for your hashtags and words." if wants.choosy else "."))
    lines = [f"• {_linked_title(article)}" for article in found]
    return reply(f"<b>Latest {len(found)}</b>\n" + "\n".join(lines))


@dataclass(frozen=True, slots=True)
class _Wants:
    """What one subscriber wants, as `enqueue_for_subscribers` decides it for new articles (for /latest)."""

    tags: frozenset[str]  # normalised hashtags
    watch: tuple[str, ...]  # folded words
    mute: tuple[str, ...]

    @property
    def choosy(self) -> bool:
        return bool(self.tags or self.watch or self.mute)

    def article(self, article: Article) -> bool:
        if not self.choosy:
            return True
        text = searchable(article.title, article.text, article.summary) if self.watch or self.mute else ""
        if self.mute and contains_any(text, self.mute):
            return False
        if not self.tags and not self.watch:
            return True
        return bool(self.tags & {normalize(t) for t in article.hashtags}) or contains_any(text, self.watch)


# --- watch and mute words ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _WordList:
    """/watch and /mute: the same commands over a different list."""

    kind: str  # the store's kind of word
    verb: str  # as typed: /watch, and /unwatch to undo
    effect: str  # what the words do, after "Articles that contain one"


_WATCH_LIST: Final = _WordList(WATCH, "watch", "also come to you, whatever their hashtags")
_MUTE_LIST: Final = _WordList(MUTE, "mute", "never come to you, whatever their hashtags or your watch words")
SEPARATE_BY_COMMAS: Final = "Separate words with commas; a phrase may contain spaces."


def watch(ctx: CommandContext, request: Request) -> Reply:
    return _add_words(ctx, request, _WATCH_LIST)


def mute(ctx: CommandContext, request: Request) -> Reply:
    return _add_words(ctx, request, _MUTE_LIST)


def unwatch(ctx: CommandContext, request: Request) -> Reply:
    return _remove_words(ctx, request, _WATCH_LIST)


def unmute(ctx: CommandContext, request: Request) -> Reply:
    return _remove_words(ctx, request, _MUTE_LIST)


def _add_words(ctx: CommandContext, request: Request, words: _WordList) -> Reply:
    typed = parse_words(argument(request.args))
    chat = str(request.chat_id)
    if not typed:
        return reply(
            f"Send the words after the command, for example <code>/{words.verb} climate change, flood</code>. "
            f"{SEPARATE_BY_COMMAS} Articles that contain one {words.effect}.\n\n"
            + _word_line(ctx.store.subscriber_words(CHANNEL, chat, words.kind), words)
        )
    current = ctx.store.subscriber_words(CHANNEL, chat, words.kind)
    known = {fold(word) for word in current}
    new = [word for word in typed if fold(word) not in known]
    if len(current) + len(new) > MAX_SUBSCRIBER_WORDS:
        raise InputError(
            f"You can {words.verb} at most {MAX_SUBSCRIBER_WORDS} words; you {words.verb} {len(current)} and sent "
            f"{len(new)} new ones. Remove some first with <code>/un{words.verb} word, other word</code> "
            f"(/tags lists yours). Nothing was changed."
        )
    joined = _ensure_subscribed(ctx, request)
    ctx.store.add_subscriber_words(CHANNEL, chat, words.kind, new)
    welcome = "You are subscribed. " if joined else ""
    return reply(f"{welcome}{_interests(ctx, _subscriber(ctx, request))}\n\n{SEPARATE_BY_COMMAS}")


def _remove_words(ctx: CommandContext, request: Request, words: _WordList) -> Reply:
    typed = parse_words(argument(request.args))
    chat = str(request.chat_id)
    current = ctx.store.subscriber_words(CHANNEL, chat, words.kind)
    if not typed:
        return reply(
            f"Send the words to drop after the command, for example <code>/un{words.verb} flood, climate change</code>."
            f" {SEPARATE_BY_COMMAS}\n\n" + _word_line(current, words)
        )
    subscriber = ctx.store.subscriber(CHANNEL, chat)
    if subscriber is None or not subscriber.active:
        return reply("You are not subscribed. /start subscribes you.")
    known = {fold(word) for word in current}
    missing = [word for word in typed if fold(word) not in known]
    ctx.store.remove_subscriber_words(CHANNEL, chat, words.kind, typed)
    note = f"You did not {words.verb} {_word_list(missing)}. " if missing else ""
    return reply(note + _interests(ctx, subscriber))


def _word_line(current: tuple[str, ...], words: _WordList) -> str:
    if not current:
        return f"You {words.verb} no words."
    return f"You {words.verb}: {_word_list(current)}. Articles that contain one {words.effect}."


def _word_list(words: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"“{echo(word, 100)}”" for word in words)


def link_email(ctx: CommandContext, request: Request) -> Reply:
    """/email you@example.com: the weekly digest by email too, after the same double opt-in as the web form.

    The answer is the same whether the address is new, awaiting confirmation, subscribed, or had its sign-up mails
    for the hour, so the command cannot probe who subscribes; the mailbox's limit is the web form's (bot.email.signups).
    A chat may ask EMAIL_REQUESTS_PER_CHAT times an hour, so one chat cannot turn the bot on someone's inbox.
    """
    text = argument(request.args).strip()
    if ctx.confirm_email is None:
        return reply("This bot does not send an email digest.")
    if not text:
        return reply("Send your address after the command, for example <code>/email you@example.com</code>.")
    try:
        address = parse_address(text)
    except InputRuleError as problem:
        raise InputError(f"That address does not look right: {echo(str(problem))}") from None
    now = ctx.clock()
    chat = str(request.chat_id)
    if ctx.store.take_rate_slot(EMAIL_COMMAND_LIMIT, chat, now, limit=EMAIL_REQUESTS_PER_CHAT, window=RATE_WINDOW):
        return reply(
            f"You asked for {EMAIL_REQUESTS_PER_CHAT} confirmation mails in the last hour. "
            "Please wait an hour, then check the address and try again."
        )
    telegram = ctx.store.subscriber(CHANNEL, chat)
    sign_up = SignUp(address, hashtags=telegram.hashtags if telegram else (), linked_chat=chat)
    try:
        ctx.confirm_email(ctx.store, sign_up, now)
    except MailboxLimited:
        log.info("%s", kv(event="email_command_mailbox_limited"))
    except Exception as error:  # the SMTP server is down or refused it: say so, nothing is confirmed
        log.warning("%s", kv(event="confirmation_mail_failed", reason=type(error).__name__))
        return reply("I could not send the confirmation mail just now. Please try again later.")
    return reply(
        f"If <code>{echo(address)}</code> can get the digest, a mail with a confirmation link is on its way to it. "
        "The weekly digest starts once you click that link. (If the address already gets the digest, the mail "
        "says so and brings the link to its settings instead.)"
    )


def help_page(ctx: CommandContext, request: Request) -> Reply:
    admin = is_admin(ctx.config, request.user_id)
    return reply(
        ctx.render_page(
            HELP_TEMPLATE,
            commands=_menu(SUBSCRIBER_COMMANDS),
            admin_commands=_menu(ADMIN_COMMANDS) if admin else [],
            most_words=MAX_SUBSCRIBER_WORDS,
        )
    )


def fallback(ctx: CommandContext, request: Request) -> Reply:
    """Anything that is not a known command: unknown commands, plain text, forwarded messages, media."""
    if request.forwarded:
        return reply("I act only on commands you send yourself, not on forwarded messages. /help lists them.")
    if request.command:
        return reply(f"I don't know /{echo(request.command, 40)}. /help lists the commands.")
    return reply("I understand commands only. /help lists them; /latest shows the newest articles.")


# --- shared pieces ----------------------------------------------------------------------------------------


def popular_tags(ctx: CommandContext, count: int = POPULAR_SHOWN) -> list[str]:
    """The most frequent hashtags of the newest articles, as first written."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for article in ctx.store.recent_articles(POPULAR_SAMPLE):
        for tag in article.hashtags:
            key = normalize(tag)
            counts[key] += 1
            spelling.setdefault(key, tag.lstrip("#"))
    return [spelling[key] for key, _count in counts.most_common(count)]


def _popular_line(ctx: CommandContext) -> str:
    popular = popular_tags(ctx)
    return f"\n\nPopular hashtags: {_tag_list(popular)}" if popular else ""


def _ensure_subscribed(ctx: CommandContext, request: Request) -> bool:
    """Subscribing to hashtags implies /start. True if they were not subscribed before."""
    return ctx.store.subscribe(CHANNEL, str(request.chat_id), ctx.clock())


def _subscriber(ctx: CommandContext, request: Request) -> Subscriber:
    subscriber = ctx.store.subscriber(CHANNEL, str(request.chat_id))
    assert subscriber is not None, "called after subscribing"
    return subscriber


def _interests(ctx: CommandContext, subscriber: Subscriber) -> str:
    """Their hashtags, watch words and mute words, and what they get because of them."""
    watched = ctx.store.subscriber_words(CHANNEL, subscriber.address, WATCH)
    muted = ctx.store.subscriber_words(CHANNEL, subscriber.address, MUTE)
    if subscriber.hashtags:
        lines = [f"You follow: {_tag_list(subscriber.hashtags)}."]
    elif watched:
        lines = ["You follow no hashtags, so you get only articles with your watch words. Pick some with /subscribe."]
    else:
        lines = ["You follow no hashtags, so you get everything sent to subscribers. Pick some with /subscribe."]
    if watched:
        lines.append(_word_line(watched, _WATCH_LIST))
    if muted:
        lines.append(_word_line(muted, _MUTE_LIST))
    return "\n".join(lines)


def _tag_list(tags: tuple[str, ...] | list[str]) -> str:
    return " ".join(telegram_html.escape("#" + tag.lstrip("#")) for tag in tags)


def _linked_title(article: Article) -> str:
    title = echo(article.title, 200) or "(untitled)"
    if article.link.startswith(("http://", "https://")):
        return f'<a href="{telegram_html.escape(article.link)}">{title}</a>'
    return title


def _menu(commands: tuple[Command, ...]) -> list[dict[str, str]]:
    return [{"name": command.name, "description": command.description} for command in commands]


SUBSCRIBER_COMMANDS: Final[tuple[Command, ...]] = (
    Command("start", "Subscribe to the news", start),
    Command("subscribe", "Follow hashtags: /subscribe #Climate #World", subscribe),
    Command("unsubscribe", "Stop following hashtags: /unsubscribe #Sports", unsubscribe),
    Command("watch", "Also get articles with these words: /watch climate change, flood", watch),
    Command("unwatch", "Stop watching words: /unwatch flood", unwatch),
    Command("mute", "Never get articles with these words: /mute football, sponsored", mute),
    Command("unmute", "Stop muting words: /unmute football", unmute),
    Command("tags", "Your hashtags, watch and mute words, and popular hashtags", tags),
    Command("latest", "The newest articles for you: /latest 10", latest),
    Command("email", "Get the weekly digest by email: /email you@example.com", link_email),
    Command("stop", "Unsubscribe from everything", stop),
    Command("help", "What I can do", help_page),
)
