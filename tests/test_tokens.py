"""Signed links: what a forged, tampered, misused or expired token gets (BadToken with a reason)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import WebConfig
from bot.email.tokens import PURPOSES, BadToken, TokenSigner, signer_from_environment
from bot.errors import ConfigError

SECRET = b"0123456789abcdef-test-secret"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ADDRESS = "reader@example.org"


def signer(secret: bytes = SECRET) -> TokenSigner:
    return TokenSigner(secret)


def make(purpose: str = "confirm", address: str = ADDRESS, now: datetime = NOW) -> str:
    return signer().make(purpose, address, now, ttl=PURPOSES[purpose])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def reason_for(token: str, purpose: str = "confirm", now: datetime = NOW) -> str:
    with pytest.raises(BadToken) as caught:
        signer().read(token, purpose, now)
    assert caught.value.reason
    return caught.value.reason


@pytest.mark.parametrize("purpose", sorted(PURPOSES))
def test_a_token_reads_back_as_its_address(purpose: str) -> None:
    token = make(purpose, "Ünïcode.reader+news@example.org")
    assert signer().read(token, purpose, NOW) == "Ünïcode.reader+news@example.org"


def test_tokens_are_url_safe_and_carry_no_padding() -> None:
    token = make("unsubscribe", "a" * 64 + "@" + "b" * 185 + ".org")
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert "=" not in token


def test_a_changed_payload_is_refused() -> None:
    payload, signature = make().split(".")
    body = json.loads(unb64(payload))
    body["a"] = "attacker@example.org"
    forged = b64(json.dumps(body, separators=(",", ":")).encode()) + "." + signature
    assert reason_for(forged) == "the signature does not match"


def test_a_changed_signature_is_refused() -> None:
    payload, signature = make().split(".")
    flipped = bytearray(unb64(signature))
    flipped[0] ^= 1
    assert reason_for(f"{payload}.{b64(bytes(flipped))}") == "the signature does not match"


def test_a_token_for_another_purpose_is_refused() -> None:
    assert reason_for(make("unsubscribe"), purpose="confirm") == "made for 'unsubscribe', not 'confirm'"
    assert reason_for(make("confirm"), purpose="preferences") == "made for 'confirm', not 'preferences'"


def test_a_confirm_token_expires_after_seven_days() -> None:
    token = make("confirm")
    assert signer().read(token, "confirm", NOW + timedelta(days=7) - timedelta(seconds=1)) == ADDRESS
    assert reason_for(token, "confirm", NOW + timedelta(days=7)) == "expired"


def test_a_preferences_token_expires_after_thirty_days() -> None:
    token = make("preferences")
    assert signer().read(token, "preferences", NOW + timedelta(days=29)) == ADDRESS
    assert reason_for(token, "preferences", NOW + timedelta(days=30, seconds=1)) == "expired"


def test_an_unsubscribe_token_never_expires() -> None:
    assert signer().read(make("unsubscribe"), "unsubscribe", NOW + timedelta(days=3650)) == ADDRESS


def test_a_token_signed_with_another_secret_is_refused() -> None:
    other = TokenSigner(b"another-secret-of-enough-length").make("confirm", ADDRESS, NOW, ttl=timedelta(days=7))
    assert reason_for(other) == "the signature does not match"


def test_a_validly_signed_payload_of_the_wrong_shape_is_refused() -> None:
    # Only the key holder could make these; the reader still refuses them instead of crashing.
    key = signer()
    for body in (b"[]", b'{"p":"confirm","a":"x@example.org","i":true,"e":null}', b"\xff", b"not json"):
        payload = b64(body)
        token = f"{payload}.{b64(key._sign(payload))}"
        assert reason_for(token).startswith("the payload")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "empty"),
        ("x" * 5000, "too long"),
        ("no-dot-at-all", "not in the form PAYLOAD.SIGNATURE"),
        ("a.b.c", "not in the form PAYLOAD.SIGNATURE"),
        ("abc.", "not in the form PAYLOAD.SIGNATURE"),
        ("ab+c.de/f", "not in the form PAYLOAD.SIGNATURE"),
        ("<script>.alert", "not in the form PAYLOAD.SIGNATURE"),
        ("abc.a", "not valid base64"),
        ("abc.def", "the signature does not match"),
        ("é.ü", "not in the form PAYLOAD.SIGNATURE"),
    ],
)
def test_garbage_is_refused_with_a_reason(token: str, reason: str) -> None:
    assert reason_for(token) == reason


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        TokenSigner(b"short")


def test_an_unknown_purpose_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="unknown token purpose"):
        signer().make("admin", ADDRESS, NOW, ttl=None)


def test_the_signer_reads_its_secret_from_the_named_variable() -> None:
    config = WebConfig(secret_key_env="MY_SECRET")
    key = signer_from_environment(config, {"MY_SECRET": SECRET.decode()})
    assert key.read(make(), "confirm", NOW) == ADDRESS


@pytest.mark.parametrize(("environ", "problem"), [({}, "is not set"), ({"NEWSBOT_SECRET_KEY": "tooshort"}, "shorter")])
def test_a_missing_or_short_secret_is_a_config_error_that_names_the_variable_only(
    environ: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        signer_from_environment(WebConfig(), environ)
    assert "$NEWSBOT_SECRET_KEY" in str(caught.value)
    assert problem in str(caught.value)
    assert "tooshort" not in str(caught.value)
    assert "tooshort" not in repr(signer())


def test_a_confirm_link_names_its_sign_up_request_and_the_reference_cannot_be_changed() -> None:
    token = signer().make("confirm", ADDRESS, NOW, ttl=PURPOSES["confirm"], ref="42")
    assert signer().read_with_ref(token, "confirm", NOW) == (ADDRESS, "42")
    assert signer().read_with_ref(make(), "confirm", NOW) == (ADDRESS, "")  # a link from before requests were kept
    payload, _, signature = token.partition(".")
    body = json.loads(unb64(payload))
    body["r"] = "43"
    assert reason_for(f"{b64(json.dumps(body).encode())}.{signature}") == "the signature does not match"
