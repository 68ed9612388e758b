"""Configuration: one TOML file read into frozen dataclasses, validated once at start-up.

Every default lives in the dataclasses below. Secrets never live in the file: a key ending in `_env`
names the environment variable that holds the secret. Every error names the file, the key and the fix.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.addresses import InputRuleError
from bot.channels import NAMES as CHANNELS
from bot.channels import REGISTRY as CHANNEL_REGISTRY
from bot.channels import telegram as telegram_channel
from bot.errors import ConfigError
from bot.hashtags import is_valid_tag
from bot.keywords import compile_pattern, parse_keyword_list
from bot.urls import database_url_problem, redact_url

SECURITY_MODES = ("starttls", "tls", "none")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_CONFIG_NAME = "config.toml"
CONFIG_ENV = "NEWSBOT_CONFIG"

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DURATION = re.compile(r"^([1-9]\d{0,5})([mhd])$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
ON_TIMEOUT = ("skip", "approve")


def parse_duration(text: str) -> timedelta:
    """A duration such as "30m", "6h" or "2d" (a whole number of minutes, hours or days); ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f'“{text}” is not a duration; write a whole number and m, h or d, such as "6h"')
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


# atproto handle syntax: a domain name of at least two labels (https://atproto.com/specs/handle).
_HANDLE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


DATABASE_URL_ENV = "NEWSBOT_DATABASE_URL"  # a PostgreSQL state URL; wins over [state] url, may hold a password


@dataclass(frozen=True, slots=True)
class StateConfig:
    path: Path = Path("newsbot.sqlite")  # the SQLite state file, used when no PostgreSQL URL is given
    url: str = ""  # a PostgreSQL state: postgresql://user@host/dbname (no password: see DATABASE_URL_ENV)
    lease_seconds: int = 60  # how long work a worker claimed (outbox rows, a source, deliveries) stays its own

    def database_url(self, environ: Mapping[str, str]) -> str:
        """The PostgreSQL state's URL ($NEWSBOT_DATABASE_URL, else [state] url); "" for SQLite at `path`."""
        return environ.get(DATABASE_URL_ENV, "").strip() or self.url

    def described(self, environ: Mapping[str, str]) -> str:
        """Which backend holds the state, for people: the URL without its credentials."""
        url = self.database_url(environ)
        if not url:
            return f"SQLite file {self.path}"
        origin = f"${DATABASE_URL_ENV}" if environ.get(DATABASE_URL_ENV, "").strip() else "[state] url"
        return f"PostgreSQL at {redact_url(url)} (from {origin})"


@dataclass(frozen=True, slots=True)
class OutputConfig:
    dir: Path = Path("out")
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class TemplatesConfig:
    dir: Path | None = None  # user templates; they override the packaged ones by file name


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    max_posts_per_cycle: int = 10  # per channel, counted in articles
    max_attempts: int = 8  # transient failures before an item is marked failed
    drain_interval: int = 30  # seconds between outbox drains in `newsbot run`


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    source_failures: int = 3  # failed polls in a row before the admins are told a source is failing
    bounce_rate: float = 0.05  # share of a digest batch that may bounce before the admins are told


@dataclass(frozen=True, slots=True)
class SourceConfig:
    name: str
    url: str  # a path, a file:// URL or an http(s):// URL
    interval: int = 900  # seconds between polls
    backfill: int = 0  # on the first poll, post this many of the newest entries; the rest is marked seen
    hashtags: tuple[str, ...] = ()  # added to every article of this source
    timeout: float = 20.0
    max_bytes: int = 10_000_000


@dataclass(frozen=True, slots=True)
class FetchConfig:
    # false: URLs from chat, and redirects away from a source's own origin, reach only public addresses
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class RouteConfig:
    name: str
    hashtags: tuple[str, ...]  # any of these; "*" matches every article
    channels: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    template: Mapping[str, str] = field(default_factory=dict)  # channel -> template file name
    at: tuple[str, ...] = ()  # posting slots "HH:MM"; empty: post as soon as found
    timezone: str = "UTC"
    per_slot: int = 1
    keywords: tuple[str, ...] = ()  # any of these words or phrases must occur (bot.keywords); empty: no such rule
    exclude_keywords: tuple[str, ...] = ()  # none of these may occur
    pattern: str = ""  # an RE2 regular expression that must match the title or text (case-insensitive)
    # Only these entries of [telegram] channel (as written there); empty: every one.
    telegram_channels: tuple[str, ...] = ()
    approval: bool = False  # hold each routed article until an admin approves it in chat
    approval_timeout: timedelta | None = None  # None: wait for an admin however long it takes
    on_timeout: str = "skip"  # what a timed-out approval becomes: "skip" or "approve"
    # The language its posts are in ("de", "pt-BR"), which channels that have one tag them with (Mastodon's
    # `language`, Bluesky's `langs`): with a [summarize] model, the model writes their summaries in it; without
    # one, it says the articles are written in it, and their summaries are made by its rules where the extractive
    # summarizer has them (bot.summarize.summary_language). "": not known (the model keeps the article's own).
    language: str = ""
    # A content warning shown before its posts on channels that have them (Mastodon's spoiler_text); "": none.
    spoiler_text: str = ""

    @property
    def filters_text(self) -> bool:
        return bool(self.keywords or self.exclude_keywords or self.pattern)


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    base_url: str = "https://api.telegram.org/bot"
    channel: str = ""  # chat id or @name of the channel / group to post to, or a forum topic "CHAT/TOPIC"
    more_channels: tuple[str, ...] = ()  # further channels / groups when `channel` is given as a list
    admins: tuple[int, ...] = ()
    token_env: str = "NEWSBOT_TELEGRAM_TOKEN"
    subscribers: bool = True  # also send routed articles as direct messages to subscribers whose hashtags match
    link_preview: bool = True
    summary_chars: int = 700
    max_posts_per_cycle: int | None = None  # None: [outbox] max_posts_per_cycle
    messages_per_second: int = 30  # Telegram's limits; lower them if your bot shares its token
    messages_per_chat_per_second: int = 1
    messages_per_group_per_minute: int = 20
    max_in_flight: int = 30  # requests open at once during a fan-out
    request_timeout: float = 15.0
    commands_per_minute: int = 20  # chat commands one user may send in any minute (admins are not limited)
    utm: Mapping[str, str] = field(default_factory=dict)
    # A public https URL: Telegram sends chat updates there (bot.server) instead of newsbot asking with getUpdates.
    webhook_url: str = ""


@dataclass(frozen=True, slots=True)
class XConfig:
    api_base_url: str = "https://api.x.com"
    # OAuth 1.0a user context (all four), or an OAuth 2.0 user access token (bearer_token_env) instead.
    consumer_key_env: str = "NEWSBOT_X_CONSUMER_KEY"
    consumer_secret_env: str = "NEWSBOT_X_CONSUMER_SECRET"
    access_token_env: str = "NEWSBOT_X_ACCESS_TOKEN"
    access_token_secret_env: str = "NEWSBOT_X_ACCESS_TOKEN_SECRET"
    bearer_token_env: str = "NEWSBOT_X_BEARER_TOKEN"
    summary_chars: int = 280
    max_posts_per_cycle: int | None = None
    daily_limit: int = 17  # posts per rolling 24 hours; the free tier allows 17
    spread: bool = False  # space the daily budget evenly over the day instead of posting in bursts
    order: str = "newest"  # which queued posts go first when the budget is short: "newest" or "oldest"
    thread: bool = False  # a longer summary as a reply chain
    thread_link: str = "first"  # the post of the thread that carries the link: "first" or "last"
    thread_summary_chars: int = 800
    request_timeout: float = 15.0
    utm: Mapping[str, str] = field(default_factory=dict)

    def oauth1_env_names(self) -> tuple[str, ...]:
        return (self.consumer_key_env, self.consumer_secret_env, self.access_token_env, self.access_token_secret_env)


MASTODON_VISIBILITIES = ("public", "unlisted", "private", "direct")
MASTODON_MAX_SPOILER_CHARS = 100  # a content warning is counted in the post's length: keep room for the post


@dataclass(frozen=True, slots=True)
class MastodonConfig:
    api_base_url: str = ""  # the instance, such as "https://mastodon.social"
    token_env: str = "NEWSBOT_MASTODON_TOKEN"  # an access token with write:statuses write:media read:accounts
    visibility: str = "public"  # public, unlisted, private (followers only) or direct
    # The longest post; None: as the instance announces it (configuration.statuses.max_characters, else 500).
    max_characters: int | None = None
    summary_chars: int = 500
    max_posts_per_cycle: int | None = None
    thread: bool = False  # a longer summary as a reply chain
    thread_link: str = "first"  # the post of the thread that carries the link: "first" or "last"
    thread_summary_chars: int = 1500
    request_timeout: float = 15.0
    utm: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BlueskyConfig:
    service_url: str = "https://bsky.social"  # the account's PDS (its host, without /xrpc)
    handle: str = ""  # the account's handle, such as "news.example.com" or "newsbot.bsky.social"
    app_password_env: str = "NEWSBOT_BLUESKY_APP_PASSWORD"  # an app password (Settings → App passwords)
    summary_chars: int = 300
    max_posts_per_cycle: int | None = None
    thread: bool = False  # a longer summary as a reply chain
    thread_link: str = "first"  # the post of the thread that carries the link: "first" or "last"
    thread_summary_chars: int = 800
    request_timeout: float = 15.0
    utm: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EmailConfig:
    smtp_host: str = "localhost"
    smtp_port: int = 587
    security: str = "starttls"
    sender: str = ""
    username_env: str = "NEWSBOT_SMTP_USERNAME"
    password_env: str = "NEWSBOT_SMTP_PASSWORD"
    digest_day: str = "monday"
    digest_time: str = "08:00"
    timezone: str = "UTC"
    digest_title: str = "Your weekly news digest"
    summary_chars: int = 400
    reply_to: str = ""
    list_name: str = "News digest"  # shown in List-Id; the id itself is built from the sender's domain
    send_rate: float = 10.0  # messages per second at most, over all connections together
    connections: int = 4  # SMTP connections a digest batch is sent over side by side
    smtp_timeout: float = 30.0
    dkim_selector: str = ""  # set with dkim_key_env to sign messages (only when not sending through a relay that signs)
    dkim_key_env: str = "NEWSBOT_DKIM_PRIVATE_KEY"
    utm: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebConfig:
    public_url: str = ""  # where subscribers reach the web pages; links in mail are built on it
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key_env: str = "NEWSBOT_SECRET_KEY"  # signs the links in mail (confirm, unsubscribe, preferences)
    subscribe_per_hour: int = 5  # sign-ups accepted per hour from one IP address, and mails per hour to one address
    # The reverse proxies (IP addresses or networks) trusted to name the client in X-Forwarded-For; empty: none.
    forwarded_allow_ips: tuple[str, ...] = ()
    metrics: bool = False  # serve /metrics (Prometheus); NEWSBOT_METRICS_TOKEN, when set, is the bearer token it wants
    admin_session_hours: int = 12  # a control room (/admin) session ends this long after signing in


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    # Links in posts and digests go through [web] public_url + /r/TOKEN, which counts clicks per article, channel
    # and day (bot.clicks): no subscriber, cookie or IP address is kept. Needs [web] public_url and its secret.
    enabled: bool = False


SUMMARY_PROVIDERS = ("extractive", "openai")
MAX_SMTP_CONNECTIONS = 50  # [email] connections: relays refuse or throttle a client that opens more
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True, slots=True)
class SummarizeConfig:
    # "extractive": whole sentences of the article (bot.summarize). "openai": a model behind any server that speaks
    # the OpenAI Chat Completions API (bot.ai_summary), with the extractive summary whenever it cannot be used.
    provider: str = "extractive"
    base_url: str = "https://api.openai.com/v1"  # the part before /chat/completions
    model: str = ""
    api_key_env: str = "NEWSBOT_AI_API_KEY"  # unset or empty: no Authorization header (a local server needs none)
    timeout: float = 30.0  # seconds for one request
    max_daily_requests: int = 500  # requests per UTC day, all workers together; then extractive until midnight

    @property
    def uses_model(self) -> bool:
        return self.provider == "openai"


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None  # the file it came from; None for built-in configs such as the demo's
    state: StateConfig = field(default_factory=StateConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    sources: tuple[SourceConfig, ...] = ()
    fetch: FetchConfig = field(default_factory=FetchConfig)
    routes: tuple[RouteConfig, ...] = ()
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    x: XConfig = field(default_factory=XConfig)
    mastodon: MastodonConfig = field(default_factory=MastodonConfig)
    bluesky: BlueskyConfig = field(default_factory=BlueskyConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    web: WebConfig = field(default_factory=WebConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    analytics: AnalyticsConfig = field(default_factory=AnalyticsConfig)
    summarize: SummarizeConfig = field(default_factory=SummarizeConfig)

    def channels_in_use(self) -> tuple[str, ...]:
        used = {c for r in self.routes for c in r.channels}
        return tuple(c for c in CHANNELS if c in used)

    def max_posts_per_cycle(self, channel: str) -> int:
        override = CHANNEL_REGISTRY[channel].max_posts_per_cycle(self)
        return self.outbox.max_posts_per_cycle if override is None else override

    def utm(self, channel: str) -> Mapping[str, str]:
        return CHANNEL_REGISTRY[channel].settings(self).utm

    def summary_chars(self) -> dict[str, int]:
        return {name: described.settings(self).summary_chars for name, described in CHANNEL_REGISTRY.items()}

    def secret_env_names(self) -> dict[str, tuple[str, ...]]:
        """Per channel, the environment variables that hold its secrets (and "summarize": the model's key)."""
        names = {name: described.secret_env_names(self) for name, described in CHANNEL_REGISTRY.items()}
        if self.summarize.uses_model:
            names["summarize"] = (self.summarize.api_key_env,)
        return names


def config_path(cli_value: str | None) -> Path:
    """`--config PATH`, else $NEWSBOT_CONFIG, else ./config.toml."""
    return Path(cli_value or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME)


def load_config(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file. Copy config.example.toml to {path}, "
            f"or pass --config PATH, or set ${CONFIG_ENV}."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        # utf-8-sig: editors such as Notepad start a UTF-8 file with a byte order mark, which tomllib refuses.
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the file as UTF-8.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, path=path)


def parse_config(data: Mapping[str, Any], *, path: Path | None = None) -> Config:
    return _Parser(path).config(data)


T = TypeVar("T")


class _Parser:
    """Turns the TOML tables into dataclasses; every check raises a ConfigError naming file and key."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.base = path.parent if path else Path.cwd()
        self.label = str(path) if path else "config"

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.label}: {key}: {problem}")

    def config(self, data: Mapping[str, Any]) -> Config:
        self.known(data, "", Config)
        state = self.table(data, "state")
        output = self.table(data, "output")
        templates = self.table(data, "templates")
        outbox = self.table(data, "outbox")
        fetch = self.table(data, "fetch")
        self.known(state, "state", StateConfig)
        self.known(fetch, "fetch", FetchConfig)
        self.known(output, "output", OutputConfig)
        self.known(templates, "templates", TemplatesConfig)
        self.known(outbox, "outbox", OutboxConfig)
        telegram = self.telegram(self.table(data, "telegram"))
        web = self.web(self.table(data, "web"))
        summarize = self.summarize(self.table(data, "summarize"))
        config = Config(
            path=self.path,
            state=StateConfig(
                path=self.path_value(state, "state.path", StateConfig().path),
                url=self.state_url(state),
                lease_seconds=self.positive(state, "state.lease_seconds", StateConfig().lease_seconds),
            ),
            output=OutputConfig(
                dir=self.path_value(output, "output.dir", OutputConfig().dir),
                dry_run=self.get(output, "output.dry_run", bool, False),
            ),
            templates=TemplatesConfig(dir=self.optional_dir(templates, "templates.dir")),
            outbox=OutboxConfig(
                max_posts_per_cycle=self.positive(outbox, "outbox.max_posts_per_cycle", 10),
                max_attempts=self.positive(outbox, "outbox.max_attempts", 8),
                drain_interval=self.positive(outbox, "outbox.drain_interval", 30),
            ),
            sources=self.sources(data.get("sources", [])),
            fetch=FetchConfig(allow_private=self.get(fetch, "fetch.allow_private", bool, False)),
            routes=self.routes(data.get("routes", []), telegram),
            telegram=telegram,
            x=self.x(self.table(data, "x")),
            mastodon=self.mastodon(self.table(data, "mastodon")),
            bluesky=self.bluesky(self.table(data, "bluesky")),
            email=self.email(self.table(data, "email")),
            web=web,
            alerts=self.alerts(self.table(data, "alerts")),
            analytics=self.analytics(self.table(data, "analytics"), web),
            summarize=summarize,
        )
        self.check_live_settings(config)
        return config

    def check_live_settings(self, config: Config) -> None:
        """What a channel that a route posts to needs before it posts for real (its descriptor says; a dry run
        writes files and needs none of it)."""
        if config.output.dry_run:
            return
        for channel in config.channels_in_use():
            missing = CHANNEL_REGISTRY[channel].missing_setting(config)
            if missing is not None:
                raise self.fail(*missing)

    # -- sections ---------------------------------------------------------------------------------

    def state_url(self, state: Mapping[str, Any]) -> str:
        url = self.get(state, "state.url", str, "").strip()
        problem = database_url_problem(url, in_file=True) if url else None
        if problem:
            raise self.fail("state.url", problem)
        return url

    def sources(self, raw: Any) -> tuple[SourceConfig, ...]:
        items = self.array_of_tables(raw, "sources")
        out: list[SourceConfig] = []
        for i, item in enumerate(items):
            key = f"sources[{i}]"
            self.known(item, key, SourceConfig)
            name = self.name(item, f"{key}.name")
            url = self.get(item, f"{key}.url", str)
            if not url.strip():
                raise self.fail(f"{key}.url", "is empty; give a path, a file:// URL or an http(s):// URL")
            out.append(
                SourceConfig(
                    name=name,
                    url=self.source_url(url.strip(), f"{key}.url"),
                    interval=self.positive(item, f"{key}.interval", 900),
                    backfill=self.non_negative(item, f"{key}.backfill", 0),
                    hashtags=self.tags(item, f"{key}.hashtags"),
                    timeout=float(self.positive_number(item, f"{key}.timeout", 20.0)),
                    max_bytes=self.positive(item, f"{key}.max_bytes", 10_000_000),
                )
            )
        self.unique_names([s.name for s in out], "sources")
        return tuple(out)

    def routes(self, raw: Any, telegram: TelegramConfig) -> tuple[RouteConfig, ...]:
        items = self.array_of_tables(raw, "routes")
        out: list[RouteConfig] = []
        for i, item in enumerate(items):
            key = f"routes[{i}]"
            self.known(item, key, RouteConfig)
            name = self.name(item, f"{key}.name")
            keywords = self.keywords(item, f"{key}.keywords", name)
            exclude_keywords = self.keywords(item, f"{key}.exclude_keywords", name)
            pattern = self.pattern(item, f"{key}.pattern", name)
            hashtags = self.tags(item, f"{key}.hashtags", allow_star=True)
            if not hashtags and (keywords or pattern) and "hashtags" not in item:
                hashtags = ("*",)  # a route that picks articles by their words alone: any hashtags
            if not hashtags:
                raise self.fail(
                    f"{key}.hashtags",
                    'is missing or empty; list hashtags, or ["*"] for every article (or leave it out and give'
                    " keywords or a pattern)",
                )
            channels = self.str_list(item, f"{key}.channels")
            if not channels:
                raise self.fail(f"{key}.channels", f"is missing or empty; pick from {', '.join(CHANNELS)}")
            for channel in channels:
                if channel not in CHANNELS:
                    raise self.fail(f"{key}.channels", f"unknown channel {channel!r}; pick from {', '.join(CHANNELS)}")
            at = self.str_list(item, f"{key}.at")
            for slot in at:
                if not _TIME.match(slot):
                    raise self.fail(f"{key}.at", f'{slot!r} is not a time; write "HH:MM" such as "09:00"')
            per_slot = self.positive(item, f"{key}.per_slot", 1)
            if "per_slot" in item and not at:
                raise self.fail(f"{key}.per_slot", 'only applies with posting slots; add at = ["09:00", ...]')
            out.append(
                RouteConfig(
                    name=name,
                    hashtags=hashtags,
                    exclude=self.tags(item, f"{key}.exclude"),
                    channels=tuple(dict.fromkeys(channels)),
                    template=self.route_template(item, key, channels),
                    at=tuple(sorted(set(at))),
                    timezone=self.timezone(item, f"{key}.timezone"),
                    per_slot=per_slot,
                    keywords=keywords,
                    exclude_keywords=exclude_keywords,
                    pattern=pattern,
                    telegram_channels=self.route_telegram_channels(item, key, name, channels, telegram),
                    **self.route_approval(item, key, telegram),
                    language=self.route_language(item, key),
                    spoiler_text=self.route_spoiler_text(item, key, channels),
                )
            )
            self.route_keys_fit(item, key, name, channels)  # after the keys' own values, so a bad value is named first
        self.unique_names([r.name for r in out], "routes")
        return tuple(out)

    def keywords(self, item: Mapping[str, Any], key: str, route: str) -> tuple[str, ...]:
        value = item.get(key.rsplit(".", 1)[-1], [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, 'must be a list of words or phrases such as ["flood", "climate change"]')
        try:
            return tuple(parse_keyword_list(value))
        except InputRuleError as problem:
            raise self.fail(key, f"route “{route}”: {problem} Fix or remove that keyword.") from None

    def pattern(self, item: Mapping[str, Any], key: str, route: str) -> str:
        pattern = self.get(item, key, str, "")
        if not pattern:
            return ""
        try:
            compile_pattern(pattern)
        except InputRuleError as problem:
            raise self.fail(
                key,
                f"route “{route}”: RE2 cannot use this regular expression: {problem}. Fix it (RE2 syntax: no"
                " look-around or back-references), or remove the pattern.",
            ) from None
        return pattern

    def route_approval(self, item: Mapping[str, Any], key: str, telegram: TelegramConfig) -> dict[str, Any]:
        """`approval`, `approval_timeout` and `on_timeout` of a route, checked together."""
        approval = self.get(item, f"{key}.approval", bool, False)
        if approval and not telegram.admins:
            raise self.fail(
                f"{key}.approval",
                "needs admins to decide: list their Telegram user ids in [telegram] admins (each gets the previews)",
            )
        timeout: timedelta | None = None
        if "approval_timeout" in item:
            try:
                timeout = parse_duration(self.get(item, f"{key}.approval_timeout", str))
            except ValueError as error:
                raise self.fail(f"{key}.approval_timeout", str(error)) from None
            if not approval:
                raise self.fail(f"{key}.approval_timeout", "only applies with approval = true")
        on_timeout = self.get(item, f"{key}.on_timeout", str, "skip")
        if on_timeout not in ON_TIMEOUT:
            raise self.fail(f"{key}.on_timeout", f'must be "skip" or "approve", not “{on_timeout}”')
        if "on_timeout" in item and timeout is None:
            raise self.fail(f"{key}.on_timeout", 'only applies with approval_timeout, such as "6h"')
        return {"approval": approval, "approval_timeout": timeout, "on_timeout": on_timeout}

    def route_language(self, item: Mapping[str, Any], key: str) -> str:
        language = self.get(item, f"{key}.language", str, "").strip()
        if language and not _LANGUAGE_TAG.match(language):
            raise self.fail(
                f"{key}.language", f'“{language}” is not a language tag; write one such as "ar", "de" or "pt-BR"'
            )
        return language

    def route_spoiler_text(self, item: Mapping[str, Any], key: str, channels: list[str]) -> str:
        text = " ".join(self.get(item, f"{key}.spoiler_text", str, "").split())
        if not text:
            return ""
        if not any(CHANNEL_REGISTRY[channel].content_warnings for channel in channels):
            showing = [name for name, described in CHANNEL_REGISTRY.items() if described.content_warnings]
            raise self.fail(
                f"{key}.spoiler_text",
                f"only applies when channels includes {' or '.join(showing)} (the others have no content warnings)",
            )
        if len(text) > MASTODON_MAX_SPOILER_CHARS:
            raise self.fail(
                f"{key}.spoiler_text",
                f"is {len(text)} characters; keep a content warning to {MASTODON_MAX_SPOILER_CHARS} or fewer (it"
                " counts in the post's length)",
            )
        return text

    def route_template(self, item: Mapping[str, Any], key: str, channels: list[str]) -> dict[str, str]:
        raw = item.get("template")
        if raw is None:
            return {}
        if isinstance(raw, str):
            return dict.fromkeys(channels, raw) if raw else {}
        if isinstance(raw, dict):
            for channel, name in raw.items():
                if channel not in channels:
                    raise self.fail(f"{key}.template.{channel}", "names a channel this route does not post to")
                if not isinstance(name, str) or not name:
                    raise self.fail(f"{key}.template.{channel}", "must be a template file name")
            return dict(raw)
        raise self.fail(f"{key}.template", 'must be a file name, or a table such as { telegram = "breaking.html.j2" }')

    def route_telegram_channels(
        self, item: Mapping[str, Any], key: str, name: str, channels: list[str], telegram: TelegramConfig
    ) -> tuple[str, ...]:
        if "telegram_channels" not in item:
            return ()
        where = f"{key}.telegram_channels (route “{name}”)"
        wanted = self.chat_list(item["telegram_channels"], where)
        if not wanted:
            raise self.fail(where, "is empty; list entries of [telegram] channel, or remove the key to post to all")
        self.route_keys_fit(item, key, name, channels)  # before picking entries: a misplaced key is the problem then
        try:
            return telegram_channel.pick_entries(telegram_channel.own_entries(telegram), wanted)
        except ValueError as problem:
            raise self.fail(where, str(problem)) from None

    def route_keys_fit(self, item: Mapping[str, Any], key: str, name: str, channels: list[str]) -> None:
        """A route key that belongs to one channel needs a route that posts there (its descriptor says)."""
        for described in CHANNEL_REGISTRY.values():
            misplaced = described.misplaced_route_key(item, channels)
            if misplaced is not None:
                route_key, problem = misplaced
                raise self.fail(f"{key}.{route_key} (route “{name}”)", problem)

    def telegram(self, raw: Mapping[str, Any]) -> TelegramConfig:
        self.known(raw, "telegram", TelegramConfig)
        admins = raw.get("admins", [])
        if not isinstance(admins, list) or not all(isinstance(a, int) and not isinstance(a, bool) for a in admins):
            raise self.fail(
                "telegram.admins",
                "must be a list of numeric Telegram user ids such as [123456789] (usernames can change; ids cannot)",
            )
        channels = self.telegram_chats(raw.get("channel", ""))
        return TelegramConfig(
            base_url=self.url(raw, "telegram.base_url", TelegramConfig().base_url),
            channel=channels[0] if channels else "",
            more_channels=channels[1:],
            admins=tuple(admins),
            token_env=self.env_name(raw, "telegram.token_env", TelegramConfig().token_env),
            subscribers=self.get(raw, "telegram.subscribers", bool, True),
            link_preview=self.get(raw, "telegram.link_preview", bool, True),
            summary_chars=self.positive(raw, "telegram.summary_chars", TelegramConfig().summary_chars),
            max_posts_per_cycle=self.optional_positive(raw, "telegram.max_posts_per_cycle"),
            messages_per_second=self.positive(raw, "telegram.messages_per_second", 30),
            messages_per_chat_per_second=self.positive(raw, "telegram.messages_per_chat_per_second", 1),
            messages_per_group_per_minute=self.positive(raw, "telegram.messages_per_group_per_minute", 20),
            max_in_flight=self.positive(raw, "telegram.max_in_flight", 30),
            request_timeout=self.positive_number(raw, "telegram.request_timeout", 15.0),
            commands_per_minute=self.positive(
                raw, "telegram.commands_per_minute", TelegramConfig().commands_per_minute
            ),
            utm=self.utm(raw, "telegram.utm"),
            webhook_url=self.webhook_url(raw),
        )

    def webhook_url(self, raw: Mapping[str, Any]) -> str:
        value = self.url(raw, "telegram.webhook_url", "", allow_empty=True)
        if value and not value.lower().startswith("https://"):
            raise self.fail("telegram.webhook_url", "Telegram delivers updates only over https; write an https:// URL")
        return value

    def telegram_chats(self, raw: Any) -> tuple[str, ...]:
        try:
            return telegram_channel.checked_entries(self.chat_list(raw, "telegram.channel"))
        except ValueError as problem:
            raise self.fail("telegram.channel", str(problem)) from None

    def chat_list(self, raw: Any, key: str) -> list[str]:
        """Telegram chats as strings (a chat id may be written as a number), blanks left out."""
        values = raw if isinstance(raw, list) else [raw]
        chats = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
        if not all(isinstance(chat, str) for chat in chats):
            raise self.fail(key, f"must be {telegram_channel.TARGET_FORMS} (or a list of them)")
        return [chat.strip() for chat in chats if chat.strip()]

    def x(self, raw: Mapping[str, Any]) -> XConfig:
        self.known(raw, "x", XConfig)
        defaults = XConfig()
        order = self.get(raw, "x.order", str, defaults.order)
        if order not in ("newest", "oldest"):
            raise self.fail("x.order", f'{order!r} is not "newest" or "oldest"')
        thread_link = self.get(raw, "x.thread_link", str, defaults.thread_link)
        if thread_link not in ("first", "last"):
            raise self.fail("x.thread_link", f'{thread_link!r} is not "first" or "last"')
        return XConfig(
            api_base_url=self.url(raw, "x.api_base_url", defaults.api_base_url),
            consumer_key_env=self.env_name(raw, "x.consumer_key_env", defaults.consumer_key_env),
            consumer_secret_env=self.env_name(raw, "x.consumer_secret_env", defaults.consumer_secret_env),
            access_token_env=self.env_name(raw, "x.access_token_env", defaults.access_token_env),
            access_token_secret_env=self.env_name(raw, "x.access_token_secret_env", defaults.access_token_secret_env),
            bearer_token_env=self.env_name(raw, "x.bearer_token_env", defaults.bearer_token_env),
            summary_chars=self.positive(raw, "x.summary_chars", defaults.summary_chars),
            max_posts_per_cycle=self.optional_positive(raw, "x.max_posts_per_cycle"),
            daily_limit=self.positive(raw, "x.daily_limit", defaults.daily_limit),
            spread=self.get(raw, "x.spread", bool, defaults.spread),
            order=order,
            thread=self.get(raw, "x.thread", bool, defaults.thread),
            thread_link=thread_link,
            thread_summary_chars=self.positive(raw, "x.thread_summary_chars", defaults.thread_summary_chars),
            request_timeout=self.positive_number(raw, "x.request_timeout", defaults.request_timeout),
            utm=self.utm(raw, "x.utm"),
        )

    def mastodon(self, raw: Mapping[str, Any]) -> MastodonConfig:
        self.known(raw, "mastodon", MastodonConfig)
        defaults = MastodonConfig()
        visibility = self.get(raw, "mastodon.visibility", str, defaults.visibility)
        if visibility not in MASTODON_VISIBILITIES:
            raise self.fail(
                "mastodon.visibility",
                f"“{visibility}” is not a visibility; write one of {', '.join(MASTODON_VISIBILITIES)}",
            )
        thread_link = self.get(raw, "mastodon.thread_link", str, defaults.thread_link)
        if thread_link not in ("first", "last"):
            raise self.fail("mastodon.thread_link", f'{thread_link!r} is not "first" or "last"')
        return MastodonConfig(
            api_base_url=self.url(raw, "mastodon.api_base_url", "", allow_empty=True),
            token_env=self.env_name(raw, "mastodon.token_env", defaults.token_env),
            visibility=visibility,
            max_characters=self.optional_positive(raw, "mastodon.max_characters"),
            summary_chars=self.positive(raw, "mastodon.summary_chars", defaults.summary_chars),
            max_posts_per_cycle=self.optional_positive(raw, "mastodon.max_posts_per_cycle"),
            thread=self.get(raw, "mastodon.thread", bool, defaults.thread),
            thread_link=thread_link,
            thread_summary_chars=self.positive(raw, "mastodon.thread_summary_chars", defaults.thread_summary_chars),
            request_timeout=self.positive_number(raw, "mastodon.request_timeout", defaults.request_timeout),
            utm=self.utm(raw, "mastodon.utm"),
        )

    def bluesky(self, raw: Mapping[str, Any]) -> BlueskyConfig:
        self.known(raw, "bluesky", BlueskyConfig)
        defaults = BlueskyConfig()
        thread_link = self.get(raw, "bluesky.thread_link", str, defaults.thread_link)
        if thread_link not in ("first", "last"):
            raise self.fail("bluesky.thread_link", f'{thread_link!r} is not "first" or "last"')
        return BlueskyConfig(
            service_url=self.url(raw, "bluesky.service_url", defaults.service_url),
            handle=self.bluesky_handle(raw),
            app_password_env=self.env_name(raw, "bluesky.app_password_env", defaults.app_password_env),
            summary_chars=self.positive(raw, "bluesky.summary_chars", defaults.summary_chars),
            max_posts_per_cycle=self.optional_positive(raw, "bluesky.max_posts_per_cycle"),
            thread=self.get(raw, "bluesky.thread", bool, defaults.thread),
            thread_link=thread_link,
            thread_summary_chars=self.positive(raw, "bluesky.thread_summary_chars", defaults.thread_summary_chars),
            request_timeout=self.positive_number(raw, "bluesky.request_timeout", defaults.request_timeout),
            utm=self.utm(raw, "bluesky.utm"),
        )

    def bluesky_handle(self, raw: Mapping[str, Any]) -> str:
        handle = self.get(raw, "bluesky.handle", str, "").strip().lstrip("@").lower()
        if handle and not _HANDLE.match(handle):
            raise self.fail(
                "bluesky.handle",
                f"“{handle}” is not a Bluesky handle; write the account's handle as its profile shows it, such as"
                ' "newsbot.bsky.social" or "news.example.com" (without the @)',
            )
        return handle

    def email(self, raw: Mapping[str, Any]) -> EmailConfig:
        self.known(raw, "email", EmailConfig)
        defaults = EmailConfig()
        security = self.get(raw, "email.security", str, defaults.security)
        if security not in SECURITY_MODES:
            raise self.fail("email.security", f"{security!r} is not one of {', '.join(SECURITY_MODES)}")
        day = self.get(raw, "email.digest_day", str, defaults.digest_day).lower()
        if day not in WEEKDAYS:
            raise self.fail("email.digest_day", f"{day!r} is not a weekday; write one of {', '.join(WEEKDAYS)}")
        digest_time = self.get(raw, "email.digest_time", str, defaults.digest_time)
        if not _TIME.match(digest_time):
            raise self.fail("email.digest_time", f'{digest_time!r} is not a time; write "HH:MM" such as "08:00"')
        port = self.positive(raw, "email.smtp_port", defaults.smtp_port)
        if port > 65535:
            raise self.fail("email.smtp_port", f"{port} is not a TCP port (1-65535)")
        connections = self.positive(raw, "email.connections", defaults.connections)
        if connections > MAX_SMTP_CONNECTIONS:
            raise self.fail(
                "email.connections",
                f"{connections} is more than a relay accepts from one client; set it between 1 and"
                f" {MAX_SMTP_CONNECTIONS} (4 suits most relays; ask yours how many it allows)",
            )
        return EmailConfig(
            smtp_host=self.get(raw, "email.smtp_host", str, defaults.smtp_host),
            smtp_port=port,
            security=security,
            sender=self.get(raw, "email.sender", str, defaults.sender),
            username_env=self.env_name(raw, "email.username_env", defaults.username_env),
            password_env=self.env_name(raw, "email.password_env", defaults.password_env),
            digest_day=day,
            digest_time=digest_time,
            timezone=self.timezone(raw, "email.timezone"),
            digest_title=self.get(raw, "email.digest_title", str, defaults.digest_title),
            summary_chars=self.positive(raw, "email.summary_chars", defaults.summary_chars),
            reply_to=self.get(raw, "email.reply_to", str, defaults.reply_to),
            list_name=self.get(raw, "email.list_name", str, defaults.list_name),
            send_rate=self.positive_number(raw, "email.send_rate", defaults.send_rate),
            connections=connections,
            smtp_timeout=self.positive_number(raw, "email.smtp_timeout", defaults.smtp_timeout),
            dkim_selector=self.get(raw, "email.dkim_selector", str, defaults.dkim_selector),
            dkim_key_env=self.env_name(raw, "email.dkim_key_env", defaults.dkim_key_env),
            utm=self.utm(raw, "email.utm"),
        )

    def web(self, raw: Mapping[str, Any]) -> WebConfig:
        self.known(raw, "web", WebConfig)
        defaults = WebConfig()
        port = self.positive(raw, "web.port", defaults.port)
        if port > 65535:
            raise self.fail("web.port", f"{port} is not a TCP port (1-65535)")
        return WebConfig(
            public_url=self.url(raw, "web.public_url", "", allow_empty=True),
            host=self.get(raw, "web.host", str, defaults.host),
            port=port,
            secret_key_env=self.env_name(raw, "web.secret_key_env", defaults.secret_key_env),
            subscribe_per_hour=self.positive(raw, "web.subscribe_per_hour", defaults.subscribe_per_hour),
            forwarded_allow_ips=self.proxy_addresses(raw, "web.forwarded_allow_ips"),
            metrics=self.get(raw, "web.metrics", bool, defaults.metrics),
            admin_session_hours=self.positive(raw, "web.admin_session_hours", defaults.admin_session_hours),
        )

    def alerts(self, raw: Mapping[str, Any]) -> AlertsConfig:
        self.known(raw, "alerts", AlertsConfig)
        defaults = AlertsConfig()
        bounce_rate = self.positive_number(raw, "alerts.bounce_rate", defaults.bounce_rate)
        if bounce_rate > 1:
            raise self.fail("alerts.bounce_rate", f"is a share of a batch, at most 1 (0.05 is 5%), not {bounce_rate:g}")
        return AlertsConfig(
            source_failures=self.positive(raw, "alerts.source_failures", defaults.source_failures),
            bounce_rate=bounce_rate,
        )

    def analytics(self, raw: Mapping[str, Any], web: WebConfig) -> AnalyticsConfig:
        self.known(raw, "analytics", AnalyticsConfig)
        enabled = self.get(raw, "analytics.enabled", bool, False)
        if enabled and not web.public_url:
            raise self.fail(
                "analytics.enabled",
                "counting clicks needs [web] public_url, the address readers reach this server at (the /r/ links"
                ' are built on it, such as "https://news.example.com"); set it, or set enabled = false',
            )
        return AnalyticsConfig(enabled=enabled)

    def summarize(self, raw: Mapping[str, Any]) -> SummarizeConfig:
        self.known(raw, "summarize", SummarizeConfig)
        defaults = SummarizeConfig()
        provider = self.get(raw, "summarize.provider", str, defaults.provider)
        if provider not in SUMMARY_PROVIDERS:
            raise self.fail(
                "summarize.provider",
                f'“{provider}” is not a summary provider; write "extractive" (sentences of the article, the default)'
                ' or "openai" (any server that speaks the OpenAI Chat Completions API)',
            )
        model = self.get(raw, "summarize.model", str, "").strip()
        if provider == "openai" and not model:
            raise self.fail(
                "summarize.model",
                'is required with provider = "openai": the model\'s name as the server knows it, such as'
                ' "gpt-4o-mini", or "llama3.1" for Ollama',
            )
        return SummarizeConfig(
            provider=provider,
            base_url=self.model_url(raw),
            model=model,
            api_key_env=self.env_name(raw, "summarize.api_key_env", defaults.api_key_env),
            timeout=self.positive_number(raw, "summarize.timeout", defaults.timeout),
            max_daily_requests=self.positive(raw, "summarize.max_daily_requests", defaults.max_daily_requests),
        )

    def model_url(self, raw: Mapping[str, Any]) -> str:
        # Any address, private ones too: the operator picks it, and llama.cpp or Ollama run on the same machine.
        value = self.get(raw, "summarize.base_url", str, SummarizeConfig().base_url).strip()
        if not re.match(r"^https?://[^\s/@]+(/\S*)?$", value):
            raise self.fail(
                "summarize.base_url",
                f"“{redact_url(value)}” is not an http(s) URL without credentials; write the address before"
                ' /chat/completions, such as "http://127.0.0.1:11434/v1" (the key goes in the variable that'
                " api_key_env names)",
            )
        return value.rstrip("/")

    # -- values -----------------------------------------------------------------------------------

    def known(self, raw: Mapping[str, Any], where: str, cls: type) -> None:
        derived = {"path", "more_channels"}  # filled from other keys, never written in the file
        allowed = [f.name for f in fields(cls) if f.name not in derived or (cls is StateConfig and f.name == "path")]
        for key in raw:
            if key not in allowed:
                import difflib  # only for a misspelt key

                hint = difflib.get_close_matches(key, allowed, n=1)
                full = f"{where}.{key}" if where else key
                fix = f"did you mean {hint[0]!r}?" if hint else f"known keys here: {', '.join(sorted(allowed))}"
                raise self.fail(full, f"unknown key; {fix}")

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table: write [{key}] on its own line")
        return value

    def array_of_tables(self, raw: Any, key: str) -> list[Mapping[str, Any]]:
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise self.fail(key, f"must be written as [[{key}]] tables")
        return raw

    def get(self, raw: Mapping[str, Any], key: str, kind: type[T], default: T | None = None) -> T:
        name = key.rsplit(".", 1)[-1]
        if name not in raw:
            if default is None:
                raise self.fail(key, "is required")
            return default
        value = raw[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(key, f"must be {_KIND_NAMES.get(kind, kind.__name__)}, not {type(value).__name__}")
        return value

    def positive(self, raw: Mapping[str, Any], key: str, default: int) -> int:
        value = self.get(raw, key, int, default)
        if value <= 0:
            raise self.fail(key, f"must be a whole number above 0, not {value}")
        return value

    def optional_positive(self, raw: Mapping[str, Any], key: str) -> int | None:
        return self.positive(raw, key, 1) if key.rsplit(".", 1)[-1] in raw else None

    def non_negative(self, raw: Mapping[str, Any], key: str, default: int) -> int:
        value = self.get(raw, key, int, default)
        if value < 0:
            raise self.fail(key, f"must be 0 or more, not {value}")
        return value

    def positive_number(self, raw: Mapping[str, Any], key: str, default: float) -> float:
        name = key.rsplit(".", 1)[-1]
        value = raw.get(name, default)
        # isfinite: TOML has nan and inf, and neither is a usable timeout or rate.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise self.fail(key, f"must be a finite number above 0, not {value!r}")
        return float(value)

    def str_list(self, raw: Mapping[str, Any], key: str) -> list[str]:
        value = raw.get(key.rsplit(".", 1)[-1], [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, 'must be a list of strings such as ["a", "b"]')
        return [v.strip() for v in value if v.strip()]

    def proxy_addresses(self, raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
        """IP addresses and networks, as a list or one comma-separated string ("127.0.0.1, ::1")."""
        values = [part.strip() for value in self.str_list(raw, key) for part in value.split(",") if part.strip()]
        for value in values:
            try:
                ipaddress.ip_network(value)
            except ValueError:
                raise self.fail(
                    key,
                    f'"{value}" is not an IP address or network; write the address your reverse proxy connects'
                    ' from, such as "127.0.0.1" or "10.0.0.0/8" (a network\'s host bits must be zero)',
                ) from None
        return tuple(values)

    def tags(self, raw: Mapping[str, Any], key: str, *, allow_star: bool = False) -> tuple[str, ...]:
        tags: list[str] = []
        for value in self.str_list(raw, key):
            if value == "*" and allow_star:
                tags.append("*")
                continue
            tag = value.lstrip("#")
            if not is_valid_tag(tag):
                star = ' (or "*" for every article)' if allow_star else ""
                raise self.fail(key, f"{value!r} is not a hashtag; use letters, digits and _ only{star}")
            tags.append(tag)
        return tuple(tags)

    def name(self, raw: Mapping[str, Any], key: str) -> str:
        value = self.get(raw, key, str)
        if not _NAME.match(value):
            raise self.fail(key, f"{value!r} is not a usable name; use letters, digits, '-', '_' or '.'")
        return value

    def unique_names(self, names: list[str], key: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.fail(key, f"the name {name!r} is used twice; names must be unique")
            seen.add(name)

    def timezone(self, raw: Mapping[str, Any], key: str) -> str:
        value = self.get(raw, key, str, "UTC")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(key, f'{value!r} is not an IANA time zone; write one such as "Europe/Berlin"') from None
        return value

    def url(self, raw: Mapping[str, Any], key: str, default: str, *, allow_empty: bool = False) -> str:
        value = self.get(raw, key, str, default).strip()
        if not value and allow_empty:
            return ""
        if not re.match(r"^https?://[^\s/]+", value):
            raise self.fail(key, f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if not value.endswith("/bot") else value

    def env_name(self, raw: Mapping[str, Any], key: str, default: str) -> str:
        value = self.get(raw, key, str, default)
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
            raise self.fail(
                key,
                "must name an environment variable (such as NEWSBOT_TELEGRAM_TOKEN), not hold the secret itself",
            )
        return value

    def utm(self, raw: Mapping[str, Any], key: str) -> dict[str, str]:
        value = raw.get("utm", {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.fail(key, 'must be a table of strings such as { utm_source = "telegram" }')
        for name in value:
            if not name.startswith("utm_"):
                raise self.fail(f"{key}.{name}", "UTM parameter names start with utm_ (utm_source, utm_medium, ...)")
        return dict(value)

    def path_value(self, raw: Mapping[str, Any], key: str, default: Path) -> Path:
        value = self.get(raw, key, str, str(default))
        if not value:
            raise self.fail(key, "is empty; give a path")
        return self.resolve(value)

    def optional_dir(self, raw: Mapping[str, Any], key: str) -> Path | None:
        value = self.get(raw, key, str, "")
        if not value:
            return None
        path = self.resolve(value)
        if not path.is_dir():
            raise self.fail(key, f"{path} is not a directory; create it or remove the key")
        return path

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base / path

    def source_url(self, url: str, key: str) -> str:
        """Relative local paths are taken relative to the config file."""
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
            if not url.startswith(("http://", "https://", "file://")):
                raise self.fail(key, f"{url!r}: only http(s)://, file:// or a path are supported")
            return url
        return str(self.resolve(url))


_KIND_NAMES: dict[type, str] = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    float: "a number",
}
