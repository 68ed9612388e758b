"""Commands for the bot's admins: status, the queue, pausing, previews, posting, sources, stats, broadcasts, alerts,
and /login (a one-time link to the web control room, bot.control).

Who is an admin is decided in one place, `admin_only`: the sender's numeric user id must be in
`[telegram] admins`, in a private chat, and the message must not be forwarded (a forwarded command was issued by
someone else). Usernames are never trusted: they can change hands.

Like every command these only read and write the store; whatever they publish is queued in the outbox, and the
store asks the main loop to drain at once (`bot.store.meta.DRAIN_REQUESTS_KEY`): it goes out within seconds.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

from bot import alerts as health
from bot import approvals, probe, source_admin, telegram_html
from bot import stats as stats_figures
from bot import status as status_views
from bot.channels import NAMES as CHANNELS
from bot.channels import REGISTRY
from bot.commands.context import (
    BUTTON,
    Command,
    CommandContext,
    InputError,
    Reply,
    Request,
    argument,
    clean,
    echo,
    parse_article_ref,
    parse_hashtags,
    parse_http_url,
    reply,
)
from bot.config import Config
from bot.control.auth import LINK_TTL, sign_in_link
from bot.email import schedule as weekly_digest
from bot.errors import ConfigError, RenderError
from bot.ingest import Ingest
from bot.logs import kv
from bot.models import Article
from bot.render import Digest, measured, with_warning
from bot.route import RouteDescription, decide, describe_route, is_own_target
from bot.store import (
    APPROVED,
    DIGEST_REQUEST_KEY,
    FAILED,
    HELD,
    PENDING,
    SENT,
    SKIPPED_DECISION,
    STATES,
    UNKNOWN,
    OutboxItem,
    OutboxRow,
)
from bot.urls import redact_url, redact_urls_in

__all__ = ["ADMIN_COMMANDS", "admin_only", "broadcast_button", "is_admin"]

log = logging.getLogger("newsbot.commands")

TELEGRAM: Final = "telegram"
QUEUE_SHOWN: Final = 20
STATS_TOP_ARTICLES: Final = 5
ENQUEUE_BATCH: Final = 1000
BROADCAST_SOURCE: Final = "broadcast"
BROADCAST_TEMPLATE: Final = "broadcast.html.j2"
BROADCAST_META: Final = "broadcast."
BROADCAST_BUTTON: Final = re.compile(r"bc:(yes|no):([0-9a-f]{12})")

_REFUSALS: Final = {
    "not_private": "Admin commands work only in a private chat with me.",
    "forwarded": "A forwarded command does not count: send it yourself.",
    "not_admin": "Sorry, only the bot's admins can use that.",
}


# --- who may ---------------------------------------------------------------------------------------------


def is_admin(config: Config, user_id: int) -> bool:
    return user_id in config.telegram.admins


def admin_only(run: Callable[[CommandContext, Request], Reply]) -> Callable[[CommandContext, Request], Reply]:
    """The one admin check: a numeric admin id, in a private chat, not forwarded. Refusals are logged."""

    @functools.wraps(run)
    def guarded(ctx: CommandContext, request: Request) -> Reply:
        if request.chat_type != "private":
            problem = "not_private"
        elif request.forwarded:
            problem = "forwarded"
        elif not is_admin(ctx.config, request.user_id):
            problem = "not_admin"
        else:
            log.info("%s", kv(event="admin_command", user_id=request.user_id, command=request.command))
            return run(ctx, request)
        log.warning(
            "%s",
            kv(event="admin_refused", user_id=request.user_id, chat_id=request.chat_id, command=request.command,
               reason=problem),
        )  # fmt: skip
        # A button press is also answered over the chat (Telegram shows the button as busy until answered).
        return reply(_REFUSALS[problem], toast=_REFUSALS[problem] if request.command == BUTTON else "")

    return guarded


# --- looking ---------------------------------------------------------------------------------------------


def status(ctx: CommandContext, request: Request) -> Reply:
    argument(request.args)
    paused = ctx.store.is_paused()
    active = ctx.store.count_subscribers(TELEGRAM)
    source_lines = [f"• <b>{echo(name)}</b>: {_state_summary(ctx, name)}" for name in _source_names(ctx)]
    lines = [
        "<b>Publishing</b>: " + ("paused — /resume to continue" if paused else "running — /pause to hold it"),
        "",
        "<b>Sources</b>",
        *(source_lines or ["none configured"]),
        "",
        "<b>Channels</b>",
        *_channel_lines(ctx),
        "",
        "<b>Queue</b>",
        *_queue_lines(ctx.store.queue_counts()),
        "",
        f"<b>Subscribers</b>: {active[True]} active, {active[False]} inactive",
    ]
    return reply("\n".join(lines))


def queue(ctx: CommandContext, request: Request) -> Reply:
    argument(request.args)
    pending = ctx.store.pending_articles(QUEUE_SHOWN)
    unknown = ctx.store.rows_in_state(UNKNOWN, QUEUE_SHOWN)
    held = len(ctx.store.waiting_approvals(QUEUE_SHOWN + 1))
    waiting = (
        f"\n\n{held if held <= QUEUE_SHOWN else f'More than {QUEUE_SHOWN}'} article(s) wait for approval: /pending"
        if held
        else ""
    )
    if not pending and not unknown:
        return reply("The queue is empty." + waiting)
    now = ctx.clock()
    lines = []
    if unknown:
        lines.append(
            f"<b>{len(unknown)} sent without an answer</b>: check the account, then /post KEY to send again"
            " or /skip KEY if it did go out"
        )
        lines += [f"<code>{echo(r.article_key, 40)}</code> {r.channel} — {_title(ctx, r.article_key)}" for r in unknown]
        lines.append("")
    if pending:
        lines.append(f"<b>Next {len(pending)} in the queue</b> (key, channel, recipients, due, title)")
    for key, channel, count, due in pending:
        when = "now" if due <= now else _time(due)
        lines.append(f"<code>{echo(key, 40)}</code> {channel} ×{count} {when} — {_title(ctx, key)}")
    return reply("\n".join(lines) + waiting)


def sources(ctx: CommandContext, request: Request) -> Reply:
    argument(request.args)
    lines = ["<b>Sources from the config file</b>"]
    lines += [
        f"• <b>{echo(s.name)}</b> {_safe_url(s.url)} every {s.interval} s — {_state_summary(ctx, s.name)}"
        for s in ctx.config.sources
    ] or ["none"]
    lines += [
        "",
        "<b>Sources kept in the state</b> (added in chat, in the control room or by"
        " <code>newsbot sources import</code>; /removesource removes one)",
    ]
    lines += [
        f"• <b>{echo(s.name)}</b> {_safe_url(s.url)} {_tags(s.hashtags)} added by {echo(s.added_by)} "
        f"on {_time(s.added_at)} — {_state_summary(ctx, s.name)}"
        for s in ctx.store.added_sources()
    ] or ["none"]
    return reply("\n".join(lines))


def routes(ctx: CommandContext, request: Request) -> Reply:
    argument(request.args)
    if not ctx.config.routes:
        return reply("No routes are configured: add [[routes]] to the config file.")
    lines = ["<b>Routes</b> (each channel takes an article from the first route that matches)"]
    lines += [_route_line(describe_route(ctx.config, route)) for route in ctx.config.routes]
    return reply("\n".join(lines))


def _route_line(route: RouteDescription) -> str:
    rules = echo(route.wanted, 400)
    rules += f" except {echo(route.excluded, 400)}" if route.excluded else ""
    rules += f" {echo(route.word_rules, 600)}" if route.word_rules else ""
    channels = ", ".join(echo(channel) for channel in route.channels)
    slots = f"; {echo(route.slots)}" if route.slots else ""
    templates = ", ".join(f"{echo(c)}: {echo(t)}" for c, t in route.templates)
    approval = f"; {echo(route.approval)}" if route.approval else ""
    return (
        f"• <b>{echo(route.name)}</b>: {rules} → {channels}{slots}"
        + (f"; templates {templates}" if templates else "")
        + approval
    )


def stats(ctx: CommandContext, request: Request) -> Reply:
    try:
        days = stats_figures.parse_period(argument(request.args), stats_figures.CHAT_DAYS)
    except ValueError as error:
        raise InputError(f"Usage: <code>/stats</code> or <code>/stats 30</code>: {error}.") from None
    now = ctx.clock()
    shown = stats_figures.figures(ctx.config, ctx.store, now, days, top=STATS_TOP_ARTICLES)
    others = ctx.store.outcome_counts_since(shown.period.since)  # skipped, unknown, held: not sends
    subscribers = ctx.store.count_subscribers(TELEGRAM)
    channels = sorted(set(shown.channels) | {channel for channel, _state in others})
    lines = [
        f"<b>Subscribers</b>: {subscribers[True]} active, {subscribers[False]} inactive",
        "",
        f"<b>Last {days} days</b>",
    ]
    lines += [
        f"{channel}: {shown.sent(channel)} sent, {shown.failed(channel)} failed, "
        + ", ".join(f"{others.get((channel, state), 0)} {state}" for state in STATES if state not in _SENDS)
        for channel in channels
    ] or ["nothing published yet"]
    return reply("\n".join([*lines, "", *_click_lines(shown, channels)]))


_SENDS: Final = (PENDING, SENT, FAILED)  # pending is not an outcome; sent and failed come from the figures


def _click_lines(shown: stats_figures.Figures, channels: list[str]) -> list[str]:
    """Clicks per channel over the period, and the most clicked articles."""
    if not shown.clicks_counted:
        return ["Clicks are not counted; turn it on with [analytics] enabled = true."]
    days = shown.period.days
    lines = [f"<b>Clicks, last {days} days</b>", ", ".join(f"{c}: {shown.clicks_of(c)}" for c in channels)]
    if shown.top:
        lines.append("<b>Most clicked</b>")
        lines += [
            f"{rank}. {echo(item.title, 80) or '(no longer kept)'} <code>{echo(item.article_key)}</code>: {item.clicks}"
            for rank, item in enumerate(shown.top, start=1)
        ]
    return lines


def preview(ctx: CommandContext, request: Request) -> Reply:
    ref = argument(request.args)
    if not ref:
        return reply("Which article? <code>/preview KEY</code>; /queue lists keys.")
    article = _find_article(ctx, parse_article_ref(ref))
    header = (
        f"<b>Preview of</b> <code>{echo(article.key)}</code> — {_article_label(article)}\n"
        f"{echo(decide(article, ctx.config.routes).reason, 600)}"
    )
    parts = [header]
    for channel in ctx.config.channels_in_use() or CHANNELS:  # the channels the routes use; all when none does
        try:
            post = ctx.renderer.render(article, channel)
        except RenderError as error:
            parts.append(f"<b>{channel}</b>: cannot be rendered: {echo(str(error), 600)}")
            continue
        length, limit = measured(post)
        size = f"<b>{channel}</b>: {length} of {limit} {REGISTRY[channel].post_format.unit}"
        if REGISTRY[channel].post_format.telegram_html:
            parts += [f"{size}, as subscribers will see it:", post.text]
        else:
            parts.append(f"{size}\n<pre>{telegram_html.escape(with_warning(post, post.text))}</pre>")
    return reply(*parts)


# --- acting ----------------------------------------------------------------------------------------------


def pause(ctx: CommandContext, request: Request) -> Reply:
    argument(request.args)
    ctx.store.set_paused(True)
    return reply("Publishing is paused: nothing goes out until /resume. Articles keep being collected and queued.")


def resume(ctx: CommandContext, request: Request) -> Reply:
    argument(request.args)
    ctx.store.set_paused(False)
    return reply("Publishing resumed: what is due goes out now.")


def post(ctx: CommandContext, request: Request) -> Reply:
    text = argument(request.args)
    if not text:
        return reply("What should I post? <code>/post KEY</code> or <code>/post https://…</code>")
    if ":" in text or "/" in text:  # a URL, or meant as one: parse_http_url says what is wrong with it
        article, note = _article_from_url(ctx, parse_http_url(text))
    else:
        article, note = _find_article(ctx, parse_article_ref(text)), ""
    now = ctx.clock()
    with ctx.store.transaction():
        approved = _decide_waiting(ctx, article.key, APPROVED, request.user_id)  # /post is the admin's approval
        if not ctx.store.release_now(article.key, now):
            # Routed exactly as a newly found article is (channels, subscribers, templates), then made due now.
            # Rows already sent are not added again.
            Ingest(ctx.store, ctx.config).route(article, now)
            ctx.store.release_now(article.key, now)
        queued = _pending_by_channel(ctx.store.rows_for_article(article.key))
    label = f"<code>{echo(article.key)}</code> ({_article_label(article)})"
    if not queued:
        why = echo(decide(article, ctx.config.routes).reason, 600)
        return reply(f"{note}Nothing queued for {label}: it was already sent wherever it goes. {why}")
    paused = " Publishing is paused: it waits for /resume." if ctx.store.is_paused() else ""
    was_held = " (approved: it waited for approval)" if approved else ""
    return reply(f"{note}{label}{was_held} queued for {_describe_queued(queued)}; it goes out within seconds.{paused}")


def skip(ctx: CommandContext, request: Request) -> Reply:
    ref = argument(request.args)
    if not ref:
        return reply("Which article? <code>/skip KEY</code>; /queue lists keys.")
    article = _find_article(ctx, parse_article_ref(ref))
    with ctx.store.transaction():
        held = sum(row.state == HELD for row in ctx.store.rows_for_article(article.key))
        _decide_waiting(ctx, article.key, SKIPPED_DECISION, request.user_id)
        skipped = held + ctx.store.skip_pending(article.key, f"skipped by admin {request.user_id}", ctx.clock())
    label = f"<code>{echo(article.key)}</code> ({_article_label(article)})"
    if not skipped:
        return reply(f"Nothing was pending for {label}.")
    return reply(f"Skipped {skipped} pending message(s) of {label}.")


def _decide_waiting(ctx: CommandContext, article_key: str, decision: str, admin: int) -> int:
    """Settle the article's approvals that still wait (an admin's /post or /skip decides for them too)."""
    waiting = [a for a in ctx.store.approvals_for_article(article_key) if not a.decision]
    for approval in waiting:
        approvals.decide(ctx.store, ctx.renderer, ctx.config, approval.id, decision, str(admin), ctx.clock())
    return len(waiting)


def add_source(ctx: CommandContext, request: Request) -> Reply:
    words = argument(request.args).split(maxsplit=1)
    if not words:
        return reply("Usage: <code>/addsource https://example.com/feed.xml #Tag #Other</code>")
    url = parse_http_url(words[0])
    hashtags = parse_hashtags(words[1]) if len(words) > 1 else []
    try:
        added = source_admin.add(ctx.config, ctx.store, url, hashtags, added_by=str(request.user_id), now=ctx.clock())
    except source_admin.SourceRefused as refused:
        return reply(echo(str(refused), 700))
    return reply(
        f"Added source <b>{added.name}</b> ({len(added.entries)} entries found now). "
        "Its existing entries are only marked seen; new ones are posted. /removesource " + added.name + " removes it."
    )


def remove_source(ctx: CommandContext, request: Request) -> Reply:
    name = clean(argument(request.args))
    if not name:
        return reply("Which source? <code>/removesource NAME</code>; /sources lists them.")
    try:
        source_admin.remove(ctx.config, ctx.store, name, ctx.clock())
    except source_admin.SourceRefused as refused:
        return reply(f"{echo(str(refused), 400)} /sources lists them.")
    return reply(f"Removed source <b>{echo(name)}</b>.")


def pause_source(ctx: CommandContext, request: Request) -> Reply:
    return _set_source_paused(ctx, request, paused=True)


def resume_source(ctx: CommandContext, request: Request) -> Reply:
    return _set_source_paused(ctx, request, paused=False)


def _set_source_paused(ctx: CommandContext, request: Request, *, paused: bool) -> Reply:
    name = clean(argument(request.args))
    command = "/pausesource" if paused else "/resumesource"
    if not name:
        return reply(f"Which source? <code>{command} NAME</code>; /sources lists them.")
    try:
        source_admin.set_paused(ctx.config, ctx.store, name, paused)
    except source_admin.SourceRefused as refused:
        return reply(f"{echo(str(refused), 200)} /sources lists them.")
    if paused:
        return reply(f"Source <b>{echo(name)}</b> is paused: it is not polled until /resumesource {echo(name)}.")
    return reply(f"Source <b>{echo(name)}</b> is polled again when it is next due.")


def digest(ctx: CommandContext, request: Request) -> Reply:
    action, _, address = clean(argument(request.args)).partition(" ")
    action, address = action.lower(), address.strip()
    if action == "send" and not address:
        if not weekly_digest.digest_in_use(ctx.config):
            return reply("There is no digest to send: no route sends to email. Add email to a route's channels first.")
        ctx.store.set_meta(DIGEST_REQUEST_KEY, "1")
        waiting = _digest_preview(ctx, "").article_count
        return reply(f"The digest goes out on the next cycle ({waiting} article(s) waiting).")
    if action != "preview":
        return reply("Usage: <code>/digest preview [ADDRESS]</code> or <code>/digest send</code>")
    try:
        rendered = _digest_preview(ctx, address)
    except weekly_digest.NotASubscriber as error:
        return reply(echo(str(error), 300))
    if not rendered.article_count:
        return reply("No articles are waiting for the digest." if not address else f"Nothing new for {echo(address)}.")
    header = f"<b>Digest preview</b>: {rendered.article_count} article(s), subject “{echo(rendered.subject, 200)}”"
    return reply(header, telegram_html.escape(clean(rendered.text, keep_newlines=True)))


def alerts(ctx: CommandContext, request: Request) -> Reply:
    """/alerts on, /alerts off (for the admin who sends it), /alerts: the setting and what is wrong now."""
    action = clean(argument(request.args)).lower()
    if action in ("on", "off"):
        ctx.store.set_alerts(request.user_id, action == "on", ctx.clock())
    elif action:
        return reply("Usage: <code>/alerts on</code>, <code>/alerts off</code>, or /alerts to see what is wrong now.")
    on = request.user_id not in ctx.store.alerts_off()
    setting = (
        "Alerts are <b>on</b> for you: I message you when a source keeps failing, a channel's credentials are"
        " refused or the digest bounces, and when it works again. /alerts off stops them."
        if on
        else "Alerts are <b>off</b> for you (the other admins still get them). /alerts on turns them back on."
    )
    lines = [f"• since {health.when(i.opened_at)}: {echo(i.what, 300)}" for i in ctx.store.open_incidents()]
    wrong = "\n".join(["<b>Wrong now</b>", *lines]) if lines else "Nothing is wrong right now."
    return reply(f"{setting}\n\n{wrong}")


def login(ctx: CommandContext, request: Request) -> Reply:
    argument(request.args)
    try:
        link = sign_in_link(ctx.config, ctx.signing, request.user_id, ctx.clock())
    except ConfigError as error:
        return reply(f"No sign-in link: {telegram_html.escape(str(error))}")
    minutes = int(LINK_TTL.total_seconds() // 60)
    return reply(
        f'<a href="{telegram_html.escape(link)}">Sign in to the control room</a> — this link works once, for the'
        f" next {minutes} minutes. Don't forward it: whoever opens it first is signed in as you."
    )


def pending(ctx: CommandContext, request: Request) -> Reply:
    """What waits for an admin's approval, oldest first."""
    argument(request.args)  # takes none, but refuses a flood like every command
    waiting = ctx.store.waiting_approvals(QUEUE_SHOWN)
    if not waiting:
        return reply("Nothing waits for approval.")
    lines = [f"<b>Waiting for approval</b> (oldest first, at most {QUEUE_SHOWN}):"]
    for approval in waiting:
        deadline = f", decided by itself at {_time(approval.deadline)}" if approval.deadline else ""
        lines.append(
            f"• {_title(ctx, approval.article_key)} — route <code>{echo(approval.route, 40)}</code>,"
            f" waiting since {_time(approval.created_at)}{deadline}, key <code>{approval.article_key}</code>"
        )
    return reply("\n".join(lines))


# --- broadcast -------------------------------------------------------------------------------------------


def broadcast(ctx: CommandContext, request: Request) -> Reply:
    text = argument(request.args)
    if not text:
        return reply("Usage: <code>/broadcast your message</code>. I ask for confirmation before sending.")
    broadcast_id = secrets.token_hex(6)
    state = {"text": text, "admin": request.user_id, "state": "waiting"}
    ctx.store.set_meta(BROADCAST_META + broadcast_id, json.dumps(state, ensure_ascii=False))
    count = ctx.store.count_subscribers(TELEGRAM)[True]
    budget = ctx.config.telegram.summary_chars
    note = f"\n\nIt is longer than {budget} characters, so it will be shortened." if len(text) > budget else ""
    return reply(
        f"Send this to {count} subscriber(s)?{note}\n\n<blockquote>{telegram_html.escape(text)}</blockquote>",
        buttons=[(f"Send to {count} subscriber(s)", f"bc:yes:{broadcast_id}"), ("Cancel", f"bc:no:{broadcast_id}")],
    )


@admin_only
def broadcast_button(ctx: CommandContext, request: Request) -> Reply:
    """A press on the confirmation keyboard. Only the admin who wrote it counts; a second press does nothing."""
    match = BROADCAST_BUTTON.fullmatch(request.args)
    raw = ctx.store.get_meta(BROADCAST_META + match.group(2)) if match else None
    if match is None or raw is None:
        return reply("That broadcast is unknown; start again with /broadcast.")
    state = json.loads(raw)
    if state.get("admin") != request.user_id:
        log.warning("%s", kv(event="broadcast_refused", user_id=request.user_id, broadcast=match.group(2)))
        return reply("Only the admin who wrote this broadcast can confirm it.")
    if state.get("state") != "waiting":
        return reply()
    key = BROADCAST_META + match.group(2)
    if match.group(1) == "no":
        ctx.store.set_meta(key, json.dumps({**state, "state": "cancelled"}, ensure_ascii=False))
        return reply("Broadcast cancelled.")
    with ctx.store.transaction():
        ctx.store.set_meta(key, json.dumps({**state, "state": "queued"}, ensure_ascii=False))
        count = _queue_broadcast(ctx, f"bc-{match.group(2)}", str(state["text"]))
    return reply(f"Broadcast queued for {count} subscriber(s); it goes out now.")


def _queue_broadcast(ctx: CommandContext, key: str, text: str) -> int:
    now = ctx.clock()
    if ctx.store.get_article(key) is None:
        ctx.store.add_article(
            Article(key=key, source=BROADCAST_SOURCE, title="", link="", text=text, hashtags=(), published=None,
                    first_seen=now)
        )  # fmt: skip
    items = (
        OutboxItem(key, TELEGRAM, subscriber.address, BROADCAST_SOURCE, BROADCAST_TEMPLATE, now)
        for subscriber in ctx.store.iter_subscribers(TELEGRAM)
        if subscriber.active
    )
    return sum(ctx.store.enqueue(batch, now) for batch in _batches(items, ENQUEUE_BATCH))


# --- helpers ---------------------------------------------------------------------------------------------


def _batches(items: Iterable[OutboxItem], size: int) -> Iterable[list[OutboxItem]]:
    batch: list[OutboxItem] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _find_article(ctx: CommandContext, ref: str) -> Article:
    exact = ctx.store.get_article(ref)
    if exact is not None:
        return exact
    found = ctx.store.find_articles(ref, limit=6)
    if not found:
        raise InputError(f"No article has a key starting with <code>{echo(ref)}</code>. /queue lists keys.")
    if len(found) > 1:
        listed = "\n".join(f"<code>{echo(a.key)}</code> {_article_label(a)}" for a in found[:5])
        raise InputError(f"<code>{echo(ref)}</code> matches several articles; give more of the key:\n{listed}")
    return found[0]


def _article_from_url(ctx: CommandContext, url: str) -> tuple[Article, str]:
    try:
        article = probe.article_at_url(ctx.config, url, ctx.clock())
    except probe.ProbeError as error:
        raise InputError(echo(str(error), 700)) from None
    known = ctx.store.find_article_key(article.aliases)
    existing = ctx.store.get_article(known) if known else None
    if existing is not None:
        return existing, "Already known. "
    ctx.store.add_article(article)
    return article, ""


def _pending_by_channel(rows: Iterable[OutboxRow]) -> dict[str, tuple[int, int]]:
    own: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for row in rows:
        if row.state == PENDING:
            (own if is_own_target(row.channel, row.recipient) else others)[row.channel] += 1
    order = {channel: index for index, channel in enumerate(CHANNELS)}
    channels = sorted(own.keys() | others.keys(), key=lambda channel: (order.get(channel, len(order)), channel))
    return {channel: (own[channel], others[channel]) for channel in channels}


def _describe_queued(queued: dict[str, tuple[int, int]]) -> str:
    described = []
    for channel, (own, subscribers) in queued.items():
        if subscribers:
            count = f"{own} + {subscribers} subscribers" if own else f"{subscribers} subscribers"
            described.append(f"{channel} ({count})")
        else:
            described.append(channel)
    return ", ".join(described)


def _digest_preview(ctx: CommandContext, address: str) -> Digest:
    """What `newsbot digest --send` would mail `address` now (""): a reader of every hashtag), as the CLI shows it."""
    return weekly_digest.preview(ctx.store, ctx.renderer, ctx.config.email, ctx.clock(), address)


def _source_names(ctx: CommandContext) -> list[str]:
    return status_views.source_names(ctx.config, ctx.store)


def _state_summary(ctx: CommandContext, name: str) -> str:
    state = ctx.store.source_state(name)
    paused = f"<b>paused</b> (/resumesource {echo(name)}), " if state.paused else ""
    if state.last_poll is None:
        return paused + "not polled yet"
    summary = f"{paused}polled {_time(state.last_poll)}, last success {_time(state.last_success)}"
    if state.failures:
        summary += f", {state.failures} failure(s) in a row: {echo(redact_urls_in(state.last_error), 300)}"
    return summary


def _channel_lines(ctx: CommandContext) -> list[str]:
    """Per channel in use: whether it publishes, or what stops it (refused credentials, a rate-limit reset)."""
    lines = []
    for channel in status_views.channel_statuses(ctx.config, ctx.store, ctx.clock()):
        if channel.stopped:
            lines.append(f"{channel.channel}: stopped — {echo(channel.stopped)}")
        elif channel.limited_until is not None:
            lines.append(f"{channel.channel}: rate limited until {_time(channel.limited_until)}")
        else:
            lines.append(f"{echo(channel.described)}: publishing")
    return lines or ["none in use"]


def _queue_lines(counts: dict[tuple[str, str], int]) -> list[str]:
    channels = sorted({channel for channel, _state in counts})
    lines = [f"{channel}: " + ", ".join(f"{counts.get((channel, s), 0)} {s}" for s in STATES) for channel in channels]
    return lines or ["empty"]


def _safe_url(url: str) -> str:
    """A URL as it may be shown in chat: redacted as in the logs (bot/urls.py), escaped."""
    return f"<code>{echo(redact_url(url), 200)}</code>"


def _title(ctx: CommandContext, key: str) -> str:
    article = ctx.store.get_article(key)
    return _article_label(article) if article else "(missing)"


def _article_label(article: Article) -> str:
    if article.source == BROADCAST_SOURCE:
        return "broadcast: " + echo(article.text, 60)
    return echo(article.title, 80) or "(untitled)"


def _tags(tags: Iterable[str]) -> str:
    return echo(" ".join(f"#{tag.lstrip('#')}" for tag in tags), 400)


def _time(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


ADMIN_COMMANDS: Final[tuple[Command, ...]] = tuple(
    Command(name, description, admin_only(run))
    for name, description, run in (
        ("status", "Publishing, sources, queue and subscribers", status),
        ("queue", "The next articles waiting to go out", queue),
        ("pending", "Articles waiting for an admin's approval", pending),
        ("login", "A one-time link to the web control room", login),
        ("pause", "Hold all publishing", pause),
        ("resume", "Publish again", resume),
        ("preview", "Every channel's version of an article: /preview KEY", preview),
        ("post", "Publish now: /post KEY or /post URL", post),
        ("skip", "Drop an article's pending messages: /skip KEY", skip),
        ("sources", "Sources and their state", sources),
        ("addsource", "Watch a feed: /addsource URL #Tags", add_source),
        ("removesource", "Stop watching a chat-added source: /removesource NAME", remove_source),
        ("pausesource", "Stop polling a source for now: /pausesource NAME", pause_source),
        ("resumesource", "Poll a paused source again: /resumesource NAME", resume_source),
        ("routes", "The routes from the config file", routes),
        ("stats", "Subscribers, messages and clicks of the last 7 days (/stats 30 or 90 for more)", stats),
        ("broadcast", "Message every subscriber (asks first): /broadcast TEXT", broadcast),
        ("digest", "The email digest: /digest preview or /digest send", digest),
        ("alerts", "Health alerts: /alerts on, /alerts off, /alerts for what is wrong now", alerts),
    )
)
