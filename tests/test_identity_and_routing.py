from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.config import parse_config
from bot.identity import aliases_for, build_article, canonical_link, collect_hashtags
from bot.models import Entry
from bot.route import decide, next_slot

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def article(tags: tuple[str, ...] = (), text: str = "Body.", **entry: str) -> object:
    return build_article(
        Entry(
            title=entry.get("title", "A title"),
            link=entry.get("link", ""),
            text=text,
            guid=entry.get("guid", ""),
        ),
        source="s",
        source_hashtags=tags,
        first_seen=NOW,
    )


def test_canonical_link_drops_tracking_and_fragment_but_keeps_real_parameters() -> None:
    url = "HTTPS://News.Example.com:443/world/a?id=7&utm_source=x&utm_medium=y&fbclid=abc&q=a%20b#comments"
    assert canonical_link(url) == "https://news.example.com/world/a?id=7&q=a%20b"


def test_same_story_from_another_source_shares_an_alias() -> None:
    from_feed = Entry(title="Council approves budget", link="https://n.example/a?utm_source=rss", guid="123")
    from_page = Entry(title="Council approves budget", link="https://n.example/a")
    assert set(aliases_for(from_feed, "feed")) & set(aliases_for(from_page, "page"))


def test_guid_that_is_not_a_url_only_counts_within_its_feed() -> None:
    one = aliases_for(Entry(title="One", guid="42"), "feed-a")
    other = aliases_for(Entry(title="Two", guid="42"), "feed-b")
    assert not set(one) & set(other)


def test_same_title_and_body_without_link_or_guid_is_the_same_story() -> None:
    a = aliases_for(Entry(title="Storm hits coast", text="Winds of 120 km/h.  More later."), "a")
    b = aliases_for(Entry(title="STORM hits coast!", text="Winds of 120 km/h. More later."), "b")
    assert a[-1] == b[-1]


def test_hashtags_come_from_source_categories_and_text_deduplicated_case_insensitively() -> None:
    entry = Entry(
        title="Vote #Politics",
        text="See https://example.com/#anchor and #politics again, #2026 and #MiddleEast.",
        tags=("Middle East", "World"),
    )
    assert collect_hashtags(entry, ("World",)) == ("World", "MiddleEast", "Politics")


def config_with_routes() -> object:
    return parse_config(
        {
            "routes": [
                {
                    "name": "no-opinion",
                    "hashtags": ["Politics"],
                    "exclude": ["Opinion"],
                    "channels": ["telegram", "x"],
                },
                {"name": "digest", "hashtags": ["*"], "channels": ["email", "telegram"]},
            ]
        }
    )


def test_route_matches_case_insensitively_and_first_route_wins_per_channel() -> None:
    config = config_with_routes()
    decision = decide(article(("politics",)), config.routes)  # type: ignore[attr-defined]
    assert [(c, r.name) for c, r in decision.targets] == [
        ("telegram", "no-opinion"),
        ("x", "no-opinion"),
        ("email", "digest"),
    ]


def test_excluded_hashtag_skips_the_route() -> None:
    decision = decide(article(("Politics", "Opinion")), config_with_routes().routes)  # type: ignore[attr-defined]
    assert [(c, r.name) for c, r in decision.targets] == [("email", "digest"), ("telegram", "digest")]


def test_unrouted_article_gets_a_reason_naming_its_tags_and_the_routes() -> None:
    config = parse_config({"routes": [{"name": "tech", "hashtags": ["Tech"], "channels": ["x"]}]})
    decision = decide(article(("Sports",)), config.routes)
    assert decision.targets == ()
    assert "#Sports" in decision.reason
    assert "tech: #Tech" in decision.reason


def test_next_slot_is_the_next_local_time_and_handles_daylight_saving() -> None:
    config = parse_config(
        {
            "routes": [
                {
                    "name": "slots",
                    "hashtags": ["*"],
                    "channels": ["x"],
                    "at": ["18:00", "09:00"],
                    "timezone": "Europe/Berlin",
                }
            ]
        }
    )
    route = config.routes[0]
    berlin = ZoneInfo("Europe/Berlin")
    # 12:00 UTC in November is 13:00 in Berlin: next slot 18:00 the same day.
    assert next_slot(route, NOW).astimezone(berlin) == datetime(2026, 11, 23, 18, 0, tzinfo=berlin)
    # Evening: the 09:00 slot of the next day.
    late = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    assert next_slot(route, late).astimezone(berlin) == datetime(2026, 11, 24, 9, 0, tzinfo=berlin)
    # Across the spring-forward night the slot is still 09:00 local (07:00 UTC, not 08:00).
    before_dst = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
    assert next_slot(route, before_dst) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
