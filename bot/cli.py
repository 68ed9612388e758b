"""The command line. The only module that parses argv. Heavy imports happen inside the commands.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad configuration, 141 (128 + SIGPIPE, as for any command
killed by it) when the program reading stdout went away, e.g. `newsbot subscribers export | head -1`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bot import __version__
from bot.clock import utc_now
from bot.errors import ConfigError, LockedError, NewsbotError

if TYPE_CHECKING:
    from bot.channels import SecretNeed
    from bot.clock import Clock
    from bot.commands.notices import NoticeStore
    from bot.commands.runner import CommandRunner
    from bot.config import Config
    from bot.email.parts import EmailParts
    from bot.email.tokens import LinkSigning
    from bot.metrics import Metrics
    from bot.models import Entry
    from bot.render import Renderer
    from bot.scheduler import Heartbeat
    from bot.server import Server
    from bot.subscribers_csv import CsvStore
    from bot.webhook import Webhook

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_PIPE_CLOSED = 128 + signal.SIGPIPE  # what a shell reports for a command SIGPIPE ended

log = logging.getLogger("newsbot")


class _ChannelChoices(Collection[str]):
    """The channel names argparse offers, read from the registry only when a `--channel` is parsed or its command's
    help is shown: `newsbot --help` and most commands never load the channel descriptors."""

    def __init__(self, *, with_csv_columns: bool = False) -> None:
        self._with_csv_columns = with_csv_columns

    def _names(self) -> tuple[str, ...]:
        from bot.channels import REGISTRY

        return tuple(
            name for name, described in REGISTRY.items() if described.csv_columns or not self._with_csv_columns
        )

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def _channel_choice(choices: _ChannelChoices) -> dict[str, Any]:
    """A `--channel` option's choices, metavar and help. An explicit metavar keeps argparse from listing the choices
    (and so loading the registry) when the option is added; `%(choices)s` lists them when the help is shown."""
    return {"choices": choices, "metavar": "CHANNEL", "help": "one of: %(choices)s"}


CHANNEL_NAMES: Final = _ChannelChoices()
CSV_CHANNELS: Final = _ChannelChoices(with_csv_columns=True)


def _common_options(parser: argparse.ArgumentParser, *, after_command: bool) -> argparse.ArgumentParser:
    """--config and -v, which every command takes before or after its name (`newsbot -v once`, `newsbot once -v`).

    After the name they default to SUPPRESS, so a command that does not repeat them keeps what came before it."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS if after_command else None,
        help="config file (default: $NEWSBOT_CONFIG, else ./config.toml)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if after_command else False,
        help="log debug details, e.g. why an article went nowhere",
    )
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="Watch feeds and article pages, route articles by hashtag, publish to Telegram, X and email.",
    )
    parser.add_argument("--version", action="version", version=f"newsbot {__version__}")
    _common_options(parser, after_command=False)
    common = _common_options(argparse.ArgumentParser(add_help=False), after_command=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, what: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=what, parents=[common])

    demo = command("demo", "run the pipeline on bundled samples into out/ (no config, no network)")
    demo.add_argument("--out", metavar="DIR", default="out", help="where to write the results (default: out)")

    command("run", "run until SIGINT/SIGTERM: poll, publish, send the digest on schedule")
    once = command("once", "one cycle (poll due sources, publish what is due), then exit")
    once.add_argument("--all", action="store_true", help="poll every source now, even if its interval has not passed")

    preview = command("preview", "show what one channel would post for an article page or feed")
    preview.add_argument("target", metavar="PATH_OR_URL")
    preview.add_argument("--channel", required=True, **_channel_choice(CHANNEL_NAMES))
    preview.add_argument("--entry", type=int, default=1, metavar="N", help="which entry of a feed (default: 1)")

    summarize = command("summarize", "print the summary of an article page or feed entry")
    summarize.add_argument("target", metavar="PATH")
    summarize.add_argument("--max-chars", type=_positive_int, default=600, metavar="N")
    summarize.add_argument("--entry", type=int, default=1, metavar="N", help="which entry of a feed (default: 1)")

    command("check-config", "validate the config and tell which secrets are missing, and which are optional")

    digest = command("digest", "preview the next email digest, or send it now")
    mode = digest.add_mutually_exclusive_group(required=True)
    mode.add_argument("--preview", action="store_true", help="write its HTML and text to [output] dir/email/")
    mode.add_argument("--send", action="store_true", help="send each subscriber what they have not had yet")
    digest.add_argument(
        "--to",
        metavar="ADDRESS",
        help="with --preview: the digest this subscriber would get (default: a reader of every hashtag)",
    )

    command("web", "serve what is configured on [web] host and port: subscription pages, control room, /r/")
    admin_link = command("admin-link", "print a one-time sign-in link to the web control room (/admin)")
    admin_link.add_argument(
        "--admin", required=True, type=int, metavar="USER_ID", help="your Telegram user id, from [telegram] admins"
    )
    _subscribers_parser(command("subscribers", "import or export subscribers as CSV, or unsubscribe some"), common)
    _sources_parser(command("sources", "import or export sources as OPML (the file feed readers exchange)"), common)
    _state_parser(command("state", "move the state: copy the SQLite state into PostgreSQL"), common)
    return parser


def _state_parser(state: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = state.add_subparsers(dest="action", metavar="ACTION", required=True)
    copy = actions.add_parser(
        "copy", help="copy the SQLite state at [state] path into a PostgreSQL database", parents=[common]
    )
    copy.add_argument(
        "--to",
        metavar="URL",
        help="postgresql://user@host/dbname (default: $NEWSBOT_DATABASE_URL, else [state] url); keep the password"
        " in PGPASSWORD or ~/.pgpass: a command line is visible to other users",
    )
    copy.add_argument("--force", action="store_true", help="replace the state the target database already holds")


def _sources_parser(sources: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = sources.add_subparsers(dest="action", metavar="ACTION", required=True)
    what = (
        "add the feeds of an OPML file as sources (kept in the state, like /addsource); folders and categories"
        " become hashtags; a URL that is already a source is left as it is. Not fetched unless --check: each"
        " new source's first poll marks what it holds as seen. Exit 1 if some feed was refused (the rest is added)"
    )
    do_import = actions.add_parser("import", help=what, description=what, parents=[common])
    do_import.add_argument("file", metavar="FILE.opml", type=Path)
    do_import.add_argument(
        "--check",
        action="store_true",
        help="fetch each feed first (public addresses only, unless [fetch] allow_private) and refuse those that do"
        " not work; slow for hundreds of feeds",
    )
    do_export = actions.add_parser(
        "export",
        help="write every web source (config file and state) as OPML 2.0, hashtags as categories, URLs as they are",
        parents=[common],
    )
    do_export.add_argument("--output", metavar="FILE", type=Path, help="write here (readable by you only), not stdout")


def _subscribers_parser(subscribers: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subscribers.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, what: str) -> argparse.ArgumentParser:
        return actions.add_parser(name, help=what, parents=[common])

    do_import = action("import", "add or update subscribers from a CSV file (header chat_id,hashtags)")
    do_import.add_argument("file", metavar="FILE.csv", type=Path)
    do_import.add_argument("--channel", default="telegram", **_channel_choice(CSV_CHANNELS))
    do_import.add_argument(
        "--confirmed", action="store_true", help="email: the addresses already opted in (else they get nothing)"
    )
    do_unsubscribe = action(
        "unsubscribe", "stop sending to these subscribers now (e.g. requests to the List-Unsubscribe mailto)"
    )
    do_unsubscribe.add_argument("addresses", nargs="+", metavar="ADDRESS", help="email addresses or chat ids")
    do_unsubscribe.add_argument("--channel", required=True, **_channel_choice(CSV_CHANNELS))
    do_export = action("export", "write every subscriber as CSV (to stdout, or --output FILE, readable by you only)")
    do_export.add_argument("--channel", default="telegram", **_channel_choice(CSV_CHANNELS))
    do_export.add_argument("--output", metavar="FILE", type=Path)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {number}")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = _COMMANDS[args.command]
    try:
        code = handler(args)
        sys.stdout.flush()  # a reader that went away shows here, not as "Exception ignored" at exit
        return code
    except (ConfigError, LockedError) as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILURE
    except NewsbotError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:
        if not _stdout_is_a_pipe():
            raise
        return _reader_went_away()


def _stdout_is_a_pipe() -> bool:
    import os
    import stat

    try:
        return stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError):
        return False


def _reader_went_away() -> int:
    """The program reading our stdout closed it (`newsbot subscribers export | head -1`): stop quietly with the
    status of a command ended by SIGPIPE, as `cat` would, instead of a traceback. stdout now points at /dev/null
    so the flush at exit has nowhere to fail."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_PIPE_CLOSED


def _config(args: argparse.Namespace) -> Config:
    from bot.config import config_path, load_config
    from bot.logs import setup_logging

    config = load_config(config_path(args.config))
    setup_logging(args.verbose, [n for names in config.secret_env_names().values() for n in names])
    return config


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo
    from bot.logs import setup_logging

    setup_logging(args.verbose)
    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)
    print(run_demo(Path(args.out)))
    return EXIT_OK


def _stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set: sending stops after the item in flight, which is recorded first."""
    from bot.scheduler import install_stop_signals

    stop = threading.Event()
    install_stop_signals(stop)
    return stop


def _say_if_stopped(stop: threading.Event) -> None:
    if stop.is_set():
        print(
            "newsbot: stopped on request after the send in flight; the rest goes out on the next start.",
            file=sys.stderr,
        )


def cmd_once(args: argparse.Namespace) -> int:
    from bot.app import App

    config = _config(args)
    stop = _stop_on_signals()
    with App(config, compile_templates=False) as app:
        report = app.run_cycle(poll_all=args.all, should_stop=stop.is_set)
        _send_admin_notices(config, app.store, app.clock)
    print(report.summary())
    _say_if_stopped(stop)
    return EXIT_FAILURE if report.polls and all(p.error for p in report.polls) else EXIT_OK


def _send_admin_notices(config: Config, store: NoticeStore, clock: Clock) -> None:
    """What the cycle has to tell the admins (alerts, approval previews), when a bot token is set."""
    import os

    token = os.environ.get(config.telegram.token_env, "").strip()
    # Asked here first: python-telegram-bot takes ~300 ms to import, and most cycles have nothing to tell.
    if token and not config.output.dry_run and store.unsent_notices(1):
        from bot.commands.notices import deliver_now

        deliver_now(config.telegram, token, store, clock)


def cmd_run(args: argparse.Namespace) -> int:
    import os

    from bot.app import App
    from bot.scheduler import Heartbeat, run_forever, scheduler_interval
    from bot.webhook import webhook_from_config

    config = _config(args)
    webhook = webhook_from_config(config, os.environ)  # a missing secret stops the start, before anything runs
    stop = _stop_on_signals()
    heartbeat = Heartbeat(scheduler_interval(config))
    # Every part is built once, by App; leaving the block stops the web server and the chat commands, then
    # App.close closes what it opened (the SMTP connection, the publishers, the store).
    with (
        App(config) as app,
        chat_commands(config, app.renderer, app.signing, app.email, webhook) as runner,
        web_server(
            config,
            app.email,
            app.signing,
            posts=app.renderer,
            metrics=app.metrics,
            runner=runner,
            webhook=webhook,
            heartbeat=heartbeat,
        ),
    ):
        run_forever(app, stop, heartbeat)
    return EXIT_OK


@contextmanager
def web_server(
    config: Config,
    parts: EmailParts | None,
    signing: LinkSigning,
    *,
    posts: Renderer | None = None,
    metrics: Metrics | None = None,
    runner: CommandRunner | None = None,
    webhook: Webhook | None = None,
    heartbeat: Heartbeat | None = None,
) -> Iterator[None]:
    """Serve, in a background thread while `run` runs, what `web_server_of` turns on (`parts`, `signing`, `posts`
    and `metrics` are App's: the pages mail through the digest's SMTP sender, every link is signed by the one signer,
    the control room renders as the posts do); nothing when nothing is on."""
    feed = runner.feed if runner is not None and webhook is not None else None
    server = web_server_of(
        config, os.environ, parts, signing, posts=posts, metrics=metrics, webhook=webhook, feed=feed,
        heartbeat=heartbeat,
    )  # fmt: skip
    if server is None:
        yield
        return
    from bot.server import serving

    with serving(server):
        yield


def web_server_of(
    config: Config,
    environ: Mapping[str, str],
    parts: EmailParts | None,
    signing: LinkSigning,
    *,
    posts: Renderer | None = None,
    metrics: Metrics | None = None,
    webhook: Webhook | None = None,
    feed: Callable[[Mapping[str, Any]], None] | None = None,
    heartbeat: Heartbeat | None = None,
) -> Server | None:
    """What the web server of `newsbot run` and `newsbot web` serves, decided here for both: the subscription pages
    when the email digest is live (`parts`, its mail parts: `live_mail_parts`) and `[web] public_url` is set; the
    control room (/admin) with `[web] public_url`, `[telegram] admins` and the signing secret; /metrics with
    `[web] metrics`; the Telegram webhook (`feed`); the click links /r/ with [analytics] on; /healthz and /readyz
    with any of them. None when none is on (the web stack is then not even imported)."""
    pages_on = parts is not None and bool(config.web.public_url)
    control = None
    if config.web.public_url and config.telegram.admins:
        from bot.control.app import control_from_config

        control = control_from_config(config, environ, signing, posts=posts)  # None (with a warning) without the secret
    if not pages_on and control is None and not config.web.metrics and feed is None and not config.analytics.enabled:
        return None
    from bot.clicks import clicks_from_config
    from bot.metrics import Metrics
    from bot.server import METRICS_TOKEN_ENV, Server
    from bot.store import open_store

    pages = None
    if parts is not None and pages_on:
        from bot.email.web import app_from_config

        pages = app_from_config(config, parts, send_mail=parts.send)
    return Server(
        config,
        open_store=lambda: open_store(config.state),
        pages=pages,
        control=control,
        metrics=(metrics or Metrics(enabled=True)) if config.web.metrics else None,
        metrics_token=environ.get(METRICS_TOKEN_ENV, "").strip(),
        heartbeat=heartbeat,
        webhook=webhook,
        feed=feed,
        clicks=clicks_from_config(config, signing, utc_now),
    )


@contextmanager
def chat_commands(
    config: Config, renderer: Renderer, signing: LinkSigning, parts: EmailParts | None, webhook: Webhook | None = None
) -> Iterator[CommandRunner | None]:
    """Answer Telegram chat commands in a background thread while `run` runs, when a bot token is set; yields
    the runner (None when off). Updates come from getUpdates, or with `webhook` from the web server.

    They render with App's `renderer`, /login signs with App's `signing`; /email mails through `parts` (None: the
    email digest is not live)."""
    import os

    token = os.environ.get(config.telegram.token_env, "").strip()
    if not token:
        log.info("chat commands off: $%s is not set", config.telegram.token_env)
        yield None
        return
    from telegram.error import InvalidToken

    from bot.commands.application import build_application
    from bot.commands.context import open_command_context
    from bot.commands.runner import CommandRunner

    context = open_command_context(config, renderer=renderer, signing=signing)
    if parts is not None:
        from bot.email.web import email_confirmer

        context.confirm_email = email_confirmer(config, parts, parts.send)
    from bot.store import sender_locks

    updates_lock = None if webhook is not None else sender_locks(config.state, os.environ)
    runner = CommandRunner(
        build_application(config, token, context), config, context, webhook=webhook, updates_lock=updates_lock
    )
    try:
        try:
            runner.start()
        except InvalidToken:
            raise ConfigError(
                f"telegram.token_env: Telegram refused the bot token in ${config.telegram.token_env};"
                " copy it again from @BotFather"
            ) from None
        except Exception as exc:  # Telegram unreachable: publishing goes on, commands wait for a restart
            log.error("chat commands unavailable (%s); publishing goes on, restart newsbot to retry", exc)
        yield runner
    finally:
        runner.stop()
        context.close()


def _read_entry(target: str, number: int, command: str) -> tuple[Entry, int]:
    from bot.sources import Reach, read_source

    entries = read_source(command, target, reach=Reach(from_operator=True)).entries  # the operator typed it
    if not entries:
        raise ConfigError(f"{target}: no article found in it")
    if not 1 <= number <= len(entries):
        raise ConfigError(f"--entry {number}: {target} has {len(entries)} entries; pick 1 to {len(entries)}")
    return entries[number - 1], len(entries)


def cmd_summarize(args: argparse.Namespace) -> int:
    from bot.summarize import default_summarizer

    entry, _count = _read_entry(args.target, args.entry, args.command)
    summary = default_summarizer().summarize(entry.text, args.max_chars)
    print(summary)
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:

    from bot.channels import REGISTRY
    from bot.config import Config, config_path, load_config
    from bot.identity import build_article
    from bot.render import build_renderer, measured, with_warning
    from bot.route import warnings

    path = config_path(args.config)
    config = load_config(path) if args.config or path.exists() else Config()
    entry, count = _read_entry(args.target, args.entry, args.command)
    article = build_article(entry, source="preview", source_hashtags=(), first_seen=utc_now())
    # Not the click links of the posts (bot.clicks.renderer_of): this article is not stored, so its /r/ link
    # would lead nowhere. The note below says how a live post's link differs.
    post = build_renderer(config, warning_of=warnings(config)).render(article, args.channel)
    print(with_warning(post, post.text))
    length, limit = measured(post)
    unit = REGISTRY[args.channel].post_format.unit
    print(
        f"\n-- {args.channel}: {length}/{limit} {unit}; entry {args.entry} of {count}",
        file=sys.stderr,
    )
    if config.analytics.enabled:
        print(
            f"-- [analytics] is on: a live post links to {config.web.public_url.rstrip('/')}/r/… (its click link)"
            " instead of the article's own link, so its length may differ",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.channels import REGISTRY as CHANNEL_REGISTRY
    from bot.config import config_path, load_config
    from bot.render import build_renderer, check_templates

    path = config_path(args.config)
    config = load_config(path)
    check_templates(config, build_renderer(config))
    print(f"{path}: valid")
    print(f"  sources: {len(config.sources)}, routes: {len(config.routes)}")
    in_use = [CHANNEL_REGISTRY[channel].described(config) for channel in config.channels_in_use()]
    print(f"  channels in use: {', '.join(in_use) or 'none'}")
    _print_operations(config)
    state = config.state.described(os.environ)
    print(f"  state: {state}; output: {config.output.dir} (dry run: {str(config.output.dry_run).lower()})")
    missing: list[str] = []
    for channel in config.channels_in_use():
        for secret in secret_needs(config, channel):
            state = "set" if secret.is_set else "missing" if secret.required else "not set"
            need = "required" if secret.required else "optional"
            print(f"  {channel}: ${secret.name} is {state} ({need}: {secret.why})")
        missing += missing_secrets(config, channel)
    if missing and not config.output.dry_run:
        print(f"newsbot: set the missing environment variable(s): {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _print_operations(config: Config) -> None:
    """How chat updates arrive, whether /metrics and click counts are on. A webhook or click counts without their
    secret is a ConfigError."""
    import os

    from bot.webhook import WEBHOOK_SECRET_ENV, webhook_from_config

    webhook = webhook_from_config(config, os.environ)
    if webhook is not None:
        print(f"  telegram updates: webhook at {webhook.url} (${WEBHOOK_SECRET_ENV} is set)")
    if config.analytics.enabled:
        from bot.clicks import click_links_from_config
        from bot.email.tokens import link_signing

        click_links_from_config(
            config, link_signing(config.web, os.environ)
        )  # the secret it signs with, or a ConfigError saying what to set
        print(f"  analytics: click counts on, links go through {config.web.public_url}/r/")
    if config.web.metrics:
        # Imported here: the web stack (Starlette, uvicorn) takes ~40 ms to import, and check-config must start fast.
        from bot.server import METRICS_TOKEN_ENV

        token = (
            "is set"
            if os.environ.get(METRICS_TOKEN_ENV, "").strip()
            else "is not set (anyone reaching the port may read it)"
        )
        print(f"  web: /metrics on; ${METRICS_TOKEN_ENV} {token}")


def cmd_subscribers(args: argparse.Namespace) -> int:
    from bot.store import open_store

    config = _config(args)
    store = open_store(config.state)
    try:
        if args.action == "import":
            return _import_subscribers(store, args)
        if args.action == "unsubscribe":
            from bot.subscribers_csv import unsubscribe

            done = unsubscribe(store, args.channel, args.addresses, utc_now())
            print(done.summary())
            return EXIT_USAGE if done.problems else EXIT_OK
        return _export_subscribers(store, args)
    finally:
        store.close()


def _import_subscribers(store: CsvStore, args: argparse.Namespace) -> int:

    from bot.subscribers_csv import decode_csv, import_subscribers

    try:
        with args.file.open("rb") as raw, decode_csv(raw) as rows:
            report = import_subscribers(store, args.channel, rows, utc_now(), confirmed=args.confirmed)
    except OSError as exc:
        raise ConfigError(f"{args.file}: cannot read it: {exc.strerror}") from None
    except ConfigError as exc:
        raise ConfigError(f"{args.file}: {exc}") from None
    print(f"{args.file}: {report.summary()}")
    return EXIT_FAILURE if report.problems and not (report.added or report.updated) else EXIT_OK


def _export_subscribers(store: CsvStore, args: argparse.Namespace) -> int:
    from bot.subscribers_csv import export_rows, open_private, write_csv

    if not args.output:
        write_csv(export_rows(store, args.channel), sys.stdout)
        return EXIT_OK
    try:
        with open_private(args.output) as out:
            count = write_csv(export_rows(store, args.channel), out)
    except OSError as exc:
        raise ConfigError(f"--output {args.output}: cannot write it: {exc.strerror}") from None
    print(f"{count} subscriber(s) written to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_sources(args: argparse.Namespace) -> int:
    from bot import sources_bulk
    from bot.store import open_store

    config = _config(args)
    store = open_store(config.state)
    try:
        if args.action == "import":
            report = sources_bulk.import_opml(config, store, args.file, check=args.check, now=utc_now())
            print(report.summary())
            return EXIT_FAILURE if report.done.refused else EXIT_OK
        exported = sources_bulk.export_opml(config, store, utc_now())
    finally:
        store.close()
    if exported.left_out:
        print(f"newsbot: left out (files, not web feeds): {', '.join(exported.left_out)}", file=sys.stderr)
    if not args.output:
        sys.stdout.buffer.write(exported.opml)
        return EXIT_OK
    try:
        sources_bulk.write_private_atomically(args.output, exported.opml)
    except OSError as exc:
        raise ConfigError(f"--output {args.output}: cannot write it: {exc.strerror}") from None
    print(f"{exported.count} source(s) written to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_state(args: argparse.Namespace) -> int:
    """`state copy`: the SQLite state into PostgreSQL, under the state file's lock (no `newsbot run` writes it)."""
    from bot.lock import StateLock
    from bot.store.state_copy import copy_sqlite_state
    from bot.urls import database_url_has_password, database_url_problem, redact_url

    config = _config(args)
    url = (args.to or "").strip() or config.state.database_url(os.environ)
    if not url:
        raise ConfigError(
            "state copy: say where to copy the state: --to postgresql://user@host/dbname, or set"
            " NEWSBOT_DATABASE_URL (or [state] url)"
        )
    problem = database_url_problem(url, in_file=False)
    if problem:
        raise ConfigError(f"state copy: the URL {redact_url(url)} {problem}")
    path = config.state.path
    if not path.is_file():
        raise ConfigError(f"state copy: there is no SQLite state at {path} ([state] path names the one to copy)")
    if args.to and database_url_has_password(args.to):
        print(
            "newsbot: note: a password on the command line is visible to other users of this machine (ps);"
            " prefer PGPASSWORD or ~/.pgpass",
            file=sys.stderr,
        )
    with StateLock(path):
        report = copy_sqlite_state(path, url, force=args.force)
    print(f"copied the SQLite state {path} to PostgreSQL at {redact_url(url)}:")
    print("\n".join(report.lines()))
    print(
        "next: point newsbot at it (NEWSBOT_DATABASE_URL, or [state] url) and start it; keep the SQLite file as a"
        " backup, and do not run newsbot on it any more"
    )
    return EXIT_OK


def secret_needs(config: Config, channel: str) -> list[SecretNeed]:
    """The secrets of a channel, each required or optional as this config uses them (its descriptor decides)."""
    from bot.channels import REGISTRY

    return REGISTRY[channel].secret_needs(config)


def missing_secrets(config: Config, channel: str) -> list[str]:
    """The environment variables a channel still needs."""
    return [secret.name for secret in secret_needs(config, channel) if secret.required and not secret.is_set]


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.app import App
    from bot.email.schedule import NotASubscriber

    config = _config(args)
    if args.to is not None and not args.preview:
        print("newsbot: --to goes with --preview (`digest --send` mails every subscriber)", file=sys.stderr)
        return EXIT_USAGE
    with App(config) as app:
        if args.preview:
            try:
                html, text, count = app.preview_digest(args.to or "")
            except NotASubscriber as error:
                print(f"newsbot: {error}", file=sys.stderr)
                return EXIT_USAGE
            reader = f" for {args.to.strip()}" if args.to else ""
            print(f"next digest{reader} ({count} article(s)): {html} and {text}")
            return EXIT_OK
        stop = _stop_on_signals()
        report = app.digest(force=True, should_stop=stop.is_set)
    print(report.summary())
    if config.output.dry_run and report.sent:
        print(f"dry run: nothing was mailed; each mail is an .eml file in {config.output.dir / 'email'}")
    _say_if_stopped(stop)
    return EXIT_OK


def cmd_web(args: argparse.Namespace) -> int:
    """What `web_server_of` turns on, as `newsbot run` would serve it: the subscription pages only when the email
    digest is live with complete settings, the control room and /r/ on their own otherwise; /healthz and /readyz
    (the state only: no scheduler runs here), /metrics when turned on (the state's figures: the counters belong to
    the `newsbot run` processes). Nothing to serve is a ConfigError that says what to set."""
    from bot.email.tokens import link_signing
    from bot.email.web import build_server
    from bot.server import build_server_app

    config = _config(args)
    signing = link_signing(config.web, os.environ)  # once: the pages, the control room and /r/ share it
    parts, no_pages = live_mail_parts(config, os.environ, signing)
    try:
        server = web_server_of(config, os.environ, parts, signing)
        if server is None:
            raise ConfigError(nothing_to_serve(config, no_pages))
        log.info("web_listening host=%s port=%s", config.web.host, config.web.port)
        web = config.web
        build_server(build_server_app(server), web.host, web.port, forwarded_allow_ips=web.forwarded_allow_ips).run()
    finally:
        if parts is not None:
            parts.close()
    return EXIT_OK


def live_mail_parts(config: Config, environ: Mapping[str, str], signing: LinkSigning) -> tuple[EmailParts | None, str]:
    """The email digest's mail parts for `newsbot web`'s subscription pages, live as in `newsbot run` (bot.app.App):
    when a route sends to email and it is no dry run. (None, why) otherwise: why there are no subscription pages,
    the missing setting included (logged as a warning: the rest is served without them)."""
    from bot.email.schedule import digest_in_use

    if not digest_in_use(config):
        return None, "no route sends to email, so there are no subscription pages"
    if config.output.dry_run:
        return None, "[output] dry_run = true mails nothing, so there are no subscription pages"
    from bot.email.parts import email_parts

    try:
        return email_parts(config, environ, signing), ""
    except ConfigError as error:
        from bot.logs import kv

        log.warning("%s", kv(event="subscription_pages_off", reason=str(error)))
        return None, f"the subscription pages need the email settings: {error}"


def nothing_to_serve(config: Config, no_pages: str) -> str:
    """What `newsbot web` says when nothing is turned on: what each part needs."""
    secret = f"${config.web.secret_key_env}"
    return (
        f"newsbot web has nothing to serve: {no_pages or 'the subscription pages need [web] public_url'}."
        f" Set [web] public_url, [telegram] admins and {secret} for the control room (/admin);"
        f" [analytics] enabled = true (with [web] public_url and {secret}) for the click links (/r/);"
        " [web] metrics = true for /metrics; or a route to email with the [email] settings for the subscription"
        " pages"
    )


def cmd_admin_link(args: argparse.Namespace) -> int:
    """The same one-time link as /login in chat, for whoever runs the server; it goes to stdout only."""
    import os

    from bot.clock import utc_now
    from bot.control.auth import LINK_TTL, sign_in_link
    from bot.email.tokens import link_signing

    config = _config(args)
    link = sign_in_link(config, link_signing(config.web, os.environ), args.admin, utc_now())
    print(link)
    minutes = int(LINK_TTL.total_seconds() // 60)
    print(f"Open it within {minutes} minutes and press Sign in; it works once.", file=sys.stderr)
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "digest": cmd_digest,
    "web": cmd_web,
    "admin-link": cmd_admin_link,
    "subscribers": cmd_subscribers,
    "sources": cmd_sources,
    "state": cmd_state,
    "demo": cmd_demo,
    "once": cmd_once,
    "run": cmd_run,
    "summarize": cmd_summarize,
    "preview": cmd_preview,
    "check-config": cmd_check_config,
}
