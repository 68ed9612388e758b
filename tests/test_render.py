"""Rendering posts and digests: what each channel's readers see, within each channel's limits.

Golden files under tests/golden/ hold the expected output for one fixed article; set
NEWSBOT_REGENERATE_GOLDEN=1 to rewrite them after an intended change, then review the diff.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels import ThreadSettings
from bot.errors import RenderError
from bot.models import Article
from bot.render import Renderer, packaged_templates_dir
from bot.telegram_html import validate, visible_length, visible_text
from bot.xtext import X_LIMIT, links_and_mentions, weighted_length

GOLDEN = Path(__file__).parent / "golden"
LINK = "https://news.example.com/world/2024/05/talks?id=42&ref=rss"
UTM = {
    "telegram": {"utm_source": "telegram", "utm_medium": "social"},
    "x": {"utm_source": "x", "utm_medium": "social"},
    "email": {"utm_source": "newsletter", "utm_medium": "email"},
}
BODY = (
    "The U.S. and its partners said on Monday they would “consider” a new proposal. "
    'A spokesperson\'s statement read <b>bold</b> & "quotes" and nothing more. '
    "Talks resume on Friday.\n\n"
    "Officials declined to comment further. The next round is expected in June.\n\n"
    "Analysts called the move “a cautious first step”. Markets barely reacted."
)


class FirstSentences:
    """Test double for the Summarizer: the first sentences (split on ". ") that fit in max_chars."""

    def summarize(self, text: str, max_chars: int) -> str:
        summary = ""
        for sentence in " ".join(text.split()).split(". "):
            if not sentence:
                break
            candidate = f"{summary} {sentence.rstrip('.')}.".strip()
            if len(candidate) > max_chars:
                break
            summary = candidate
        return summary


def make_article(**changes: object) -> Article:
    article = Article(
        key="a1b2c3",
        source="Example News",
        title='Ceasefire talks: <b>bold</b> & "quotes" in the U.S. capital',
        link=LINK,
        text=BODY,
        hashtags=("World", "Diplomacy"),
        published=datetime(2024, 5, 6, 9, 30, tzinfo=UTC),
        first_seen=datetime(2024, 5, 6, 9, 45, tzinfo=UTC),
        image_url="",
    )
    return replace(article, **changes)  # type: ignore[arg-type]


@cache
def make_renderer() -> Renderer:
    return Renderer(summarizer=FirstSentences(), utm=UTM)


# --- golden files ----------------------------------------------------------------------------------------------


def assert_matches_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("NEWSBOT_REGENERATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with NEWSBOT_REGENERATE_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from {path}"


def golden_digest_articles() -> list[Article]:
    return [
        make_article(),
        make_article(key="d4e5f6", title="Second story about diplomacy", hashtags=("diplomacy", "World")),
        make_article(key="g7h8i9", title="A story without tags", hashtags=(), link="", published=None),
    ]


def test_telegram_post_matches_golden_file() -> None:
    assert_matches_golden("telegram.html", make_renderer().render(make_article(), "telegram").text)


def test_x_post_matches_golden_file() -> None:
    assert_matches_golden("x.txt", make_renderer().render(make_article(), "x").text)


def test_digest_matches_golden_files() -> None:
    digest = make_renderer().render_digest(
        golden_digest_articles(),
        title="Morning briefing",
        unsubscribe_url="https://news.example.com/unsubscribe?token=abc&list=1",
        preferences_url="https://news.example.com/preferences?token=abc",
    )
    assert_matches_golden("digest.html", digest.html)
    assert_matches_golden("digest.txt", digest.text)


# --- Telegram --------------------------------------------------------------------------------------------------


def test_telegram_post_escapes_article_text_but_not_apostrophes() -> None:
    post = make_renderer().render(make_article(title='It\'s <b>bold</b> & "quoted"'), "telegram")
    assert post.text.startswith("<b>It's &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;</b>\n\n")
    assert "&#39;" not in post.text
    assert visible_text(post.text).startswith('It\'s <b>bold</b> & "quoted"\n\n')


def test_telegram_post_has_a_read_more_link_with_utm_and_the_hashtags() -> None:
    post = make_renderer().render(make_article(), "telegram")
    assert f'<a href="{LINK.replace("&", "&amp;")}&amp;utm_source=telegram&amp;utm_medium=social">Read more</a>' in (
        post.text
    )
    assert post.text.endswith("\n\n#World #Diplomacy")
    assert (post.length, post.limit) == (visible_length(post.text), 4096)
    assert [link.network for link in post.share_links][:2] == ["x", "telegram"]


def test_telegram_post_without_a_link_has_no_read_more() -> None:
    assert "Read more" not in make_renderer().render(make_article(link=""), "telegram").text


def test_article_text_cannot_inject_template_syntax() -> None:
    article = make_article(title="{{ 7 * 7 }}", text="{% raw %}{{ summary }}. Second sentence.")
    post = make_renderer().render(article, "x")
    assert post.text.startswith("{% raw %}{{ summary }}. Second sentence.")
    assert "{{ 7 * 7 }}" in make_renderer().render(article, "telegram").text


_any_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from("<>&\"' .\n👍🏽😀中")), max_size=6000
)
_hashtags = st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,14}", fullmatch=True), max_size=6)


@settings(max_examples=60, deadline=None)
@given(title=_any_text, text=_any_text, hashtags=_hashtags, caption=st.booleans())
def test_telegram_post_is_always_valid_and_within_the_limit(
    title: str, text: str, hashtags: list[str], caption: bool
) -> None:
    article = make_article(title=title, text=text, hashtags=tuple(hashtags))
    post = make_renderer().render(article, "telegram", caption=caption)
    validate(post.text)
    assert post.length == visible_length(post.text) <= post.limit == (1024 if caption else 4096)


def test_article_with_an_image_becomes_a_photo_caption_within_1024() -> None:
    image = "https://news.example.com/img/talks.jpg"
    article = make_article(image_url=image, text="This sentence is exactly long enough to matter. " * 60)
    post = Renderer(summarizer=FirstSentences(), summary_chars={"telegram": 3000}).render(article, "telegram")
    assert (post.image_url, post.limit) == (image, 1024)
    assert post.length <= 1024


def test_post_image_text_is_the_feeds_else_the_title_and_names_the_source() -> None:
    image = "https://news.example.com/img/talks.jpg"
    with_text = make_renderer().render(make_article(image_url=image, image_alt="Delegates at a round table"), "x")
    assert (with_text.image_url, with_text.image_alt) == (image, "Delegates at a round table")
    assert with_text.source == "Example News"
    without = make_renderer().render(make_article(image_url=image), "x")
    assert without.image_alt == 'Ceasefire talks: <b>bold</b> & "quotes" in the U.S. capital'


def test_caption_mode_shortens_the_summary_to_1024() -> None:
    renderer = Renderer(summarizer=FirstSentences(), summary_chars={"telegram": 3000})
    article = make_article(text="This sentence is exactly long enough to matter. " * 60)
    message = renderer.render(article, "telegram")
    caption = renderer.render(article, "telegram", caption=True)
    assert 1024 < message.length <= 4096
    assert caption.length <= 1024 < len(visible_text(message.text))
    assert caption.text.endswith("#World #Diplomacy")


def test_telegram_shortens_a_huge_title_at_a_word_boundary() -> None:
    post = make_renderer().render(make_article(title="word " * 400, text=""), "telegram", caption=True)
    title = visible_text(post.text).split("\n")[0]
    assert title.endswith("word…")
    assert post.length <= 1024


def test_telegram_post_that_cannot_fit_names_the_article_and_channel() -> None:
    article = make_article(hashtags=tuple(f"Tag{n}" for n in range(200)))
    with pytest.raises(RenderError, match=r"article 'a1b2c3' does not fit channel 'telegram' \(limit 1024\)"):
        make_renderer().render(article, "telegram", caption=True)


# --- X ---------------------------------------------------------------------------------------------------------


def test_x_post_is_the_summary_then_the_link_and_hashtags() -> None:
    post = make_renderer().render(make_article(), "x")
    summary, link_line = post.text.split("\n\n")
    assert summary.startswith("The U.S. and its partners")
    assert link_line == f"{LINK}&utm_source=x&utm_medium=social #World #Diplomacy"
    assert post.length == weighted_length(post.text) <= post.limit == X_LIMIT


def test_x_post_without_summary_uses_the_title() -> None:
    post = make_renderer().render(make_article(text=""), "x")
    assert post.text.startswith(make_article().title + "\n\n")


def test_x_keeps_a_300_character_link_whole() -> None:
    link = "https://news.example.com/" + "long-path-segment/" * 16 + "end?x=1"
    assert len(link) > 300
    post = make_renderer().render(make_article(link=link), "x")
    assert link in post.text
    assert post.length <= X_LIMIT


def test_x_counts_cjk_characters_double() -> None:
    text = "。".join(["中国外交部周一表示将考虑新的提议"] * 20)
    post = make_renderer().render(make_article(title="外交部" * 60, text=text), "x")
    assert post.length == weighted_length(post.text) <= X_LIMIT
    assert post.text.startswith("外交部")
    assert "…" in post.text


def test_x_counts_emoji_with_skin_tone_modifiers() -> None:
    title = "Fans cheer 👍🏽👍🏿 " * 30
    post = make_renderer().render(make_article(title=title, text=""), "x")
    assert post.length <= X_LIMIT
    assert "👍🏽" in post.text
    assert LINK in post.text


def test_x_shortens_a_title_that_alone_exceeds_the_limit() -> None:
    title = "Breaking news from the capital " * 12
    assert weighted_length(title) > X_LIMIT
    post = make_renderer().render(make_article(title=title, text=""), "x")
    first_line = post.text.split("\n")[0]
    assert first_line.endswith("…")
    assert title.startswith(first_line.removesuffix("…") + " ")  # cut at a word boundary
    assert post.text.endswith("#World #Diplomacy")
    assert post.length <= X_LIMIT


def test_x_drops_hashtags_from_the_end_when_they_do_not_fit() -> None:
    hashtags = tuple(f"Hashtag{n:02d}" for n in range(30))
    post = make_renderer().render(make_article(text="", hashtags=hashtags), "x")
    kept = post.text.split(" #", 1)[1].split(" #")
    assert ["#" + kept[0], *("#" + tag for tag in kept[1:])] == [f"#{t}" for t in hashtags[: len(kept)]]
    assert 0 < len(kept) < len(hashtags)
    assert make_article().title[:20] in post.text
    assert post.length <= X_LIMIT


@settings(max_examples=40, deadline=None)
@given(title=_any_text, text=_any_text, hashtags=_hashtags)
def test_x_post_is_always_within_the_limit_and_has_the_full_link(title: str, text: str, hashtags: list[str]) -> None:
    post = make_renderer().render(make_article(title=title, text=text, hashtags=tuple(hashtags)), "x")
    assert post.length == weighted_length(post.text) <= X_LIMIT
    assert f"{LINK}&utm_source=x&utm_medium=social" in post.text


def test_twitter_text_is_not_imported_until_a_length_is_measured() -> None:
    code = "import sys, bot.render; assert 'twitter_text' not in sys.modules, 'imported at import time'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- email and the digest --------------------------------------------------------------------------------------


def test_email_post_is_the_plain_text_digest_item() -> None:
    post = make_renderer().render(make_article(), "email")
    title, summary, link = post.text.split("\n")
    assert title == make_article().title
    assert summary.startswith("The U.S. and its partners") and len(summary) <= 400
    assert link == f"{LINK}&utm_source=newsletter&utm_medium=email"
    assert (post.length, post.limit) == (len(summary), 400)


def test_digest_groups_articles_under_their_first_hashtag_and_untagged_last() -> None:
    digest = make_renderer().render_digest(golden_digest_articles(), title="Briefing", period="6 May")
    headings = [line for line in digest.text.splitlines() if line.startswith("== ")]
    assert headings == ["== #World ==", "== #diplomacy ==", "== More news =="]
    assert digest.subject == "Briefing — 6 May"
    assert digest.article_count == 3
    assert "Unsubscribe" not in digest.text and "Unsubscribe" not in digest.html


def test_digest_sections_are_the_readers_hashtags_and_a_story_goes_under_its_first_chosen_one() -> None:
    articles = [
        make_article(key="k1", title="Rocket", hashtags=("Space", "Science")),
        make_article(key="k2", title="Vote and heat", hashtags=("Climate", "politics")),
        make_article(key="k3", title="Gadget", hashtags=("TechNews",)),
    ]
    digest = make_renderer().render_digest(
        articles, title="B", period="p", reader_hashtags=("#Politics", "science", "Climate")
    )
    headings = [line for line in digest.text.splitlines() if line.startswith("== ")]
    # In the reader's order, only those with stories; "science" typed in lower case shows as the story writes it.
    assert headings == ["== #Science ==", "== #Climate ==", "== More news =="]
    assert digest.text.index("== #Science ==") < digest.text.index("Rocket") < digest.text.index("== #Climate ==")
    assert digest.text.index("== #Climate ==") < digest.text.index("Vote and heat") < digest.text.index("More news")


@pytest.mark.parametrize(
    ("days", "period"),
    [
        (["2026-11-12", "2026-11-10", "2026-11-11"], "10 – 12 Nov 2026"),
        (["2026-11-02", "2026-10-28"], "28 Oct – 2 Nov 2026"),
        (["2025-12-30", "2026-01-02"], "30 Dec 2025 – 2 Jan 2026"),
        (["2026-11-12", "2026-11-12"], "12 Nov 2026"),
    ],
)
def test_digest_period_is_the_range_of_its_stories_dates(days: list[str], period: str) -> None:
    articles = [
        make_article(key=f"k{n}", published=datetime.fromisoformat(f"{day}T23:30:00+00:00"))
        for n, day in enumerate(days)
    ]
    digest = make_renderer().render_digest(articles, title="Briefing")
    assert digest.subject == f"Briefing — {period}"
    assert digest.text.startswith(f"Briefing\n{period}\n")


def test_digest_period_of_a_story_without_a_published_date_is_when_it_was_found() -> None:
    article = make_article(published=None, first_seen=datetime(2026, 11, 3, 8, tzinfo=UTC))
    assert make_renderer().render_digest([article], title="B").subject == "B — 3 Nov 2026"


def test_digest_html_escapes_article_text_and_links_titles_with_utm() -> None:
    digest = make_renderer().render_digest([make_article()], title="B & B", period="today")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#34;quotes&#34;" in digest.html
    assert "<b>bold</b>" not in digest.html
    assert "utm_source=newsletter&amp;utm_medium=email" in digest.html
    assert "<title>B &amp; B</title>" in digest.html


def test_digest_footer_has_unsubscribe_and_preferences_links() -> None:
    digest = make_renderer().render_digest(
        [make_article()],
        title="B",
        period="p",
        unsubscribe_url="https://e.com/u?t=1&l=2",
        preferences_url="https://e.com/p",
    )
    assert '<a href="https://e.com/u?t=1&amp;l=2">Unsubscribe</a>' in digest.html
    assert '<a href="https://e.com/p">Email preferences</a>' in digest.html
    assert "Unsubscribe: https://e.com/u?t=1&l=2" in digest.text


def test_empty_digest_says_so() -> None:
    digest = make_renderer().render_digest([], title="B", period="p")
    assert "No new stories" in digest.text and "No new stories" in digest.html
    assert digest.article_count == 0


# --- templates and configuration -------------------------------------------------------------------------------


def test_a_user_template_overrides_the_packaged_one(tmp_path: Path) -> None:
    (tmp_path / "telegram.html.j2").write_text("<i>{{ title }}</i> {{ link }}", encoding="utf-8")
    renderer = Renderer(summarizer=FirstSentences(), template_dir=tmp_path)
    post = renderer.render(make_article(title="A & B", link="https://e.com/?a=1&b=2"), "telegram")
    assert post.text == "<i>A &amp; B</i> https://e.com/?a=1&amp;b=2"
    assert renderer.render(make_article(), "x").text.startswith("The U.S.")  # others still packaged


def test_a_template_that_makes_invalid_telegram_html_is_a_render_error(tmp_path: Path) -> None:
    (tmp_path / "broken.html.j2").write_text("<div>{{ title }}</div>", encoding="utf-8")
    renderer = Renderer(summarizer=FirstSentences(), template_dir=tmp_path)
    with pytest.raises(RenderError, match=r"invalid Telegram HTML .*tag <div> is not supported"):
        renderer.render(make_article(), "telegram", template="broken.html.j2")


def test_a_template_using_an_unknown_variable_is_a_render_error(tmp_path: Path) -> None:
    (tmp_path / "x.txt.j2").write_text("{{ headline }}", encoding="utf-8")
    with pytest.raises(RenderError, match="'headline' is undefined"):
        Renderer(summarizer=FirstSentences(), template_dir=tmp_path).render(make_article(), "x")


def test_summary_budget_is_configurable_per_channel() -> None:
    renderer = Renderer(summarizer=FirstSentences(), summary_chars={"email": 10})
    post = renderer.render(make_article(), "email")
    assert post.limit == 10
    assert post.text.split("\n")[1] == "The U.S."  # the test double takes "U.S. and" for a sentence end


def test_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        make_renderer().render(make_article(), "fax")
    with pytest.raises(ValueError, match="utm names unknown channel 'fax'"):
        Renderer(summarizer=FirstSentences(), utm={"fax": {}})


def test_packaged_templates_are_found_in_the_checkout() -> None:
    assert (packaged_templates_dir() / "telegram.html.j2").is_file()


class IgnoresBudget:
    def summarize(self, text: str, max_chars: int) -> str:
        return text


def test_a_summarizer_that_ignores_its_budget_cannot_hang_rendering() -> None:
    renderer = Renderer(summarizer=IgnoresBudget())
    post = renderer.render(make_article(text="Far too long. " * 100), "x")
    assert post.text.startswith(make_article().title)
    assert post.length <= X_LIMIT


# --- X: mentions and links from feed text ------------------------------------------------------------------------


def x_entities(text: str) -> list[tuple[str, str]]:
    return [(entity.kind, entity.text) for entity in links_and_mentions(text)]


def test_x_title_without_a_summary_loses_its_mentions_and_bare_links() -> None:
    article = make_article(title="@elonmusk @POTUS cc @jack on www.example.org/a?b=1", text="")
    post = make_renderer().render(article, "x")
    assert post.text.startswith("elonmusk POTUS cc jack on www[.]example[.]org\n\n")
    assert x_entities(post.text) == [("url", f"{LINK}&utm_source=x&utm_medium=social")]


def test_x_keeps_what_x_does_not_link_as_written() -> None:
    text = "Write to press@example.org. Node.js 22 and U.S. officials met @ noon; the José@ account. Second one."
    post = make_renderer().render(make_article(text=text), "x")
    assert post.text.startswith(text)


def test_every_part_of_an_x_thread_is_free_of_mentions_and_the_link_is_in_one() -> None:
    text = " ".join(f"Sentence {n} thanks @user{n} and points to site{n}.com for the details." for n in range(12))
    renderer = Renderer(summarizer=FirstSentences(), utm=UTM, threads={"x": ThreadSettings(summary_chars=800)})
    post = renderer.render(make_article(text=text), "x")
    assert len(post.parts) > 1
    assert [x_entities(part) for part in post.parts] == [[("url", f"{LINK}&utm_source=x&utm_medium=social")]] + [[]] * (
        len(post.parts) - 1
    )
    assert "thanks user1 and points to site1[.]com" in post.parts[0]
    assert all(weighted_length(part) <= X_LIMIT for part in post.parts)


@pytest.mark.parametrize("link_first", [True, False])
def test_a_thread_whose_sentences_do_not_fit_beside_the_link_shows_each_sentence_once(link_first: bool) -> None:
    # Each sentence fits a post of its own (an admin's Edit is taken so), but none fits beside the link and hashtags.
    first = "The council met and talked about the harbour " * 5 + "until late at night."
    second = "It agreed the budget five votes to four after a debate of six hours " * 3
    second += "in the town hall of the harbour city."
    renderer = Renderer(summarizer=FirstSentences(), threads={"x": ThreadSettings(link_first=link_first)})
    post = renderer.render(make_article(title="Harbour budget", summary=f"{first} {second}"), "x")
    link_post = f"Harbour budget\n\n{LINK} #World #Diplomacy"
    assert post.parts == ((link_post, first, second) if link_first else (first, second, link_post))
    assert all(weighted_length(part) <= X_LIMIT for part in post.parts)


def test_a_cut_inside_a_word_does_not_make_a_new_mention() -> None:
    # "@aaaa…@b" is no mention (a name followed by "@"); cut between characters (no space in reach), it would be.
    title = "中" * 120 + "@" + "a" * 19 + "@b" + "c" * 60
    post = make_renderer().render(make_article(title=title, text="", hashtags=()), "x")
    assert post.text.startswith("中" * 120 + "a" * 13 + "…\n\n")  # the at sign dropped
    assert x_entities(post.text) == [("url", f"{LINK}&utm_source=x&utm_medium=social")]
