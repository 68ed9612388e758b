from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from bot import config as cfg
from bot.config import load_config, parse_config
from bot.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_and_resolves_paths_relative_to_the_file() -> None:
    config = load_config(EXAMPLE)
    assert config.state.path == REPO / "newsbot.sqlite"
    assert config.output.dry_run is True
    assert [s.name for s in config.sources] == ["world", "local-pages"]
    assert config.sources[1].url == str(REPO / "pages")
    assert config.routes[0].at == ("09:00", "18:00")
    assert config.channels_in_use() == ("telegram", "x", "email")
    assert config.max_posts_per_cycle("telegram") == 5
    assert config.max_posts_per_cycle("email") == 10


SECTIONS = {
    "state": cfg.StateConfig,
    "output": cfg.OutputConfig,
    "templates": cfg.TemplatesConfig,
    "outbox": cfg.OutboxConfig,
    "sources": cfg.SourceConfig,
    "fetch": cfg.FetchConfig,
    "routes": cfg.RouteConfig,
    "telegram": cfg.TelegramConfig,
    "x": cfg.XConfig,
    "mastodon": cfg.MastodonConfig,
    "email": cfg.EmailConfig,
    "web": cfg.WebConfig,
    "alerts": cfg.AlertsConfig,
    "analytics": cfg.AnalyticsConfig,
    "summarize": cfg.SummarizeConfig,
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_config_key_is_documented_in_the_example(section: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    table = data[section][0] if isinstance(data[section], list) else data[section]
    documented = set(table) | set(re.findall(r"^# (\w+) = ", text, re.MULTILINE))
    missing = {f.name for f in fields(SECTIONS[section])} - documented - {"more_channels"}
    assert not missing, f"[{section}] keys missing from config.example.toml: {missing}"


def test_unknown_key_names_file_key_and_suggests_the_right_one(tmp_path: Path) -> None:
    path = write(tmp_path, "[output]\ndry_rn = true\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "output.dry_rn" in message
    assert "did you mean 'dry_run'" in message


@pytest.mark.parametrize(
    ("toml", "key", "hint"),
    [
        ('[email]\nsecurity = "ssl"\n', "email.security", "starttls, tls, none"),
        ('[email]\ndigest_day = "someday"\n', "email.digest_day", "monday"),
        ('[email]\ndigest_time = "8am"\n', "email.digest_time", "HH:MM"),
        ('[email]\ntimezone = "Mars/Olympus"\n', "email.timezone", "IANA"),
        ('[telegram]\nadmins = ["@boss"]\n', "telegram.admins", "numeric Telegram user ids"),
        ('[telegram]\ntoken_env = "123:ABC-secret"\n', "telegram.token_env", "name an environment variable"),
        ('[[sources]]\nname = "a"\nurl = "f.xml"\ninterval = 0\n', "sources[0].interval", "above 0"),
        ('[[sources]]\nname = "a"\nurl = "ftp://x/f.xml"\n', "sources", "http(s)://"),
        ('[[sources]]\nname = "a"\nurl = "a"\n[[sources]]\nname = "a"\nurl = "b"\n', "sources", "used twice"),
        ('[[routes]]\nname = "r"\nhashtags = ["x"]\nchannels = ["fax"]\n', "routes[0].channels", "fax"),
        ('[[routes]]\nname = "r"\nhashtags = []\nchannels = ["x"]\n', "routes[0].hashtags", '["*"]'),
        (
            '[[routes]]\nname = "r"\nhashtags = ["a b"]\nchannels = ["x"]\n',
            "routes[0].hashtags",
            "not a hashtag",
        ),
        (
            '[[routes]]\nname = "r"\nhashtags = ["a"]\nchannels = ["x"]\nat = ["25:00"]\n',
            "routes[0].at",
            "HH:MM",
        ),
        ('[output]\ndry_run = "yes"\n', "output.dry_run", "true or false"),
        ("state = 3\n", "state", "must be a table"),
        ("[email]\nconnections = 0\n", "email.connections", "above 0"),
        ("[email]\nconnections = 51\n", "email.connections", "set it between 1 and 50"),
    ],
)
def test_bad_values_get_an_error_naming_the_key_and_the_fix(tmp_path: Path, toml: str, key: str, hint: str) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert key in str(err.value)
    assert hint in str(err.value)


def test_invalid_toml_and_missing_file_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[output\n"))
    with pytest.raises(ConfigError, match=r"config\.example\.toml"):
        load_config(tmp_path / "nope.toml")


def test_route_template_may_be_one_name_or_one_per_channel() -> None:
    config = parse_config(
        {
            "routes": [
                {"name": "a", "hashtags": ["x"], "channels": ["telegram", "x"], "template": "mine.j2"},
                {
                    "name": "b",
                    "hashtags": ["y"],
                    "channels": ["telegram"],
                    "template": {"telegram": "b.html.j2"},
                },
            ]
        }
    )
    assert dict(config.routes[0].template) == {"telegram": "mine.j2", "x": "mine.j2"}
    assert dict(config.routes[1].template) == {"telegram": "b.html.j2"}


def test_config_path_prefers_flag_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_CONFIG", "/etc/newsbot.toml")
    assert cfg.config_path("mine.toml") == Path("mine.toml")
    assert cfg.config_path(None) == Path("/etc/newsbot.toml")
    monkeypatch.delenv("NEWSBOT_CONFIG")
    assert cfg.config_path(None) == Path("config.toml")


def test_a_telegram_channel_entry_may_be_a_forum_topic_and_two_topics_of_one_chat_are_two_entries() -> None:
    config = parse_config({"telegram": {"channel": [-1001234567890, "-1001234567890/42", "@mygroup/7"]}})
    assert (config.telegram.channel, config.telegram.more_channels) == (
        "-1001234567890",
        ("-1001234567890/42", "@mygroup/7"),
    )


@pytest.mark.parametrize("entry", ["-1001234567890/0", "@mygroup/x", "@mygroup/", "@mygroup/-3", "@mygroup/4/5"])
def test_a_bad_topic_is_an_error_naming_the_key_the_value_and_the_form(entry: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"telegram": {"channel": ["@mynews", entry]}})
    message = str(err.value)
    assert "telegram.channel" in message
    assert f"“{entry}”" in message
    assert 'CHAT/TOPIC such as "-1001234567890/42"' in message


@pytest.mark.parametrize(
    "twice", [["@mygroup/42", "@mygroup/42"], ["@MyGroup/42", "@mygroup/42"], ["-100123", -100123]]
)
def test_the_same_telegram_channel_entry_twice_is_an_error(twice: list[object]) -> None:
    with pytest.raises(ConfigError, match=r"telegram\.channel: .* is listed twice"):
        parse_config({"telegram": {"channel": twice}})


def route_with(telegram_channels: object, channels: tuple[str, ...] = ("telegram", "x")) -> dict[str, object]:
    return {
        "telegram": {"channel": ["@mynews", "-1001234567890/42"]},
        "routes": [
            {
                "name": "sport",
                "hashtags": ["Sports"],
                "channels": list(channels),
                "telegram_channels": telegram_channels,
            }
        ],
    }


def test_a_route_declares_its_language_without_a_model() -> None:
    routes = [
        {"name": "german", "hashtags": ["Politik"], "channels": ["mastodon"], "language": " de "},
        {"name": "rest", "hashtags": ["*"], "channels": ["mastodon"]},
    ]
    config = parse_config({"routes": routes, "mastodon": {"api_base_url": "https://mastodon.example"}})
    assert not config.summarize.uses_model
    assert [route.language for route in config.routes] == ["de", ""]


@pytest.mark.parametrize("summarize", [{}, {"provider": "openai", "model": "m"}])
@pytest.mark.parametrize("tag", ["Deutsch!", "d", "de_DE", "en--US"])
def test_a_bad_route_language_is_an_error_naming_the_key_with_a_model_or_without(
    summarize: dict[str, str], tag: str
) -> None:
    route = {"name": "german", "hashtags": ["*"], "channels": ["x"], "language": tag}
    with pytest.raises(ConfigError) as err:
        parse_config({"summarize": summarize, "routes": [route]})
    assert f'routes[0].language: “{tag}” is not a language tag; write one such as "ar", "de" or "pt-BR"' in str(
        err.value
    )


def test_a_route_may_name_some_telegram_channels_spelled_as_configured() -> None:
    config = parse_config(route_with(["-1001234567890/42", "@MyNews"]))
    assert config.routes[0].telegram_channels == ("-1001234567890/42", "@mynews")


@pytest.mark.parametrize(
    ("telegram_channels", "channels", "hint"),
    [
        (["@othernews"], ("telegram",), "“@othernews” is not in [telegram] channel"),
        (["-1001234567890/43"], ("telegram",), "“-1001234567890/43” is not in [telegram] channel"),
        (["-1001234567890"], ("telegram",), "“-1001234567890” is not in [telegram] channel"),
        ([], ("telegram",), "is empty"),
        (["@mynews"], ("x",), "only applies when channels includes “telegram”"),
        ([3.5], ("telegram",), "CHAT/TOPIC"),
    ],
)
def test_a_route_naming_a_telegram_channel_not_configured_is_an_error_naming_the_route(
    telegram_channels: list[object], channels: tuple[str, ...], hint: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(route_with(telegram_channels, channels))
    assert "routes[0].telegram_channels (route “sport”)" in str(err.value)
    assert hint in str(err.value)
