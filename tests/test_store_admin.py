"""The control room's sign-ins in the store, on SQLite and PostgreSQL: sessions by hash, links used once."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta

from bot.config import Config, StateConfig
from bot.control.auth import LoginRefused, login_link, redeem_login, sign_out, signed_in
from bot.email.tokens import TokenSigner
from bot.store import open_store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=12)
SIGNER = TokenSigner(b"store-test-secret-0123456789")


def test_a_session_is_found_by_its_hash_until_it_expires_or_ends(state: StateConfig) -> None:
    with closing(open_store(state)) as store:
        store.open_admin_session("h1", 7_000_000_001, "csrf", NOW, LATER)  # Telegram ids exceed 32 bits
        found = store.admin_session("h1", NOW + timedelta(hours=1))
        assert found is not None and (found.admin_id, found.csrf_token, found.expires_at) == (
            7_000_000_001,
            "csrf",
            LATER,
        )
        assert store.admin_session("h1", LATER) is None  # expired
        assert store.admin_session("other", NOW) is None
        store.end_admin_session("h1")
        assert store.admin_session("h1", NOW) is None


def test_a_notice_waits_in_the_session_until_cleared(state: StateConfig) -> None:
    with closing(open_store(state)) as store:
        store.open_admin_session("h1", 1, "csrf", NOW, LATER)
        store.set_admin_notice("h1", "Approved.")
        assert store.admin_session("h1", NOW).notice == "Approved."  # type: ignore[union-attr]
        store.set_admin_notice("h1", "")
        assert store.admin_session("h1", NOW).notice == ""  # type: ignore[union-attr]


def test_a_login_nonce_is_used_once_and_forgotten_after_it_expires(state: StateConfig) -> None:
    with closing(open_store(state)) as store:
        expires = NOW + timedelta(minutes=10)
        assert store.use_admin_login("n1", 1, NOW, expires) is True
        assert store.use_admin_login("n1", 1, NOW, expires) is False
        store.open_admin_session("old", 1, "c", NOW - timedelta(days=1), NOW - timedelta(hours=1))
        store.forget_expired_admin_rows(expires)
        counts = [
            store._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("admin_logins", "admin_sessions")
        ]
        assert counts == [0, 0]


def test_redeeming_a_link_opens_one_session_and_a_second_use_is_refused(
    state: StateConfig, make_config: Callable[..., Config]
) -> None:
    config = make_config(web={"public_url": "https://news.example.com"}, telegram={"admins": [42]})
    token = login_link(config, SIGNER, 42, NOW).rsplit("token=", 1)[1]
    with closing(open_store(state)) as store:
        session = redeem_login(store, config, SIGNER, token, NOW)
        assert session.admin_id == 42 and session.expires == LATER
        who = signed_in(store, config, session.session_id, NOW)
        assert who is not None and who.admin_id == 42
        try:
            redeem_login(store, config, SIGNER, token, NOW + timedelta(minutes=1))
            raise AssertionError("a used link signed in again")
        except LoginRefused as refused:
            assert refused.status == 400 and refused.reason == "used before"
        sign_out(store, who.session_hash)
        assert signed_in(store, config, session.session_id, NOW) is None
