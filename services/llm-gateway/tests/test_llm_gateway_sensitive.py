"""The sensitive-content detector: what it finds, where, and what it leaves alone."""

from __future__ import annotations

import pytest

from eco_llm_gateway.sensitive import detect, detect_messages, luhn_valid

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7v1\nabc==\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),  # Visa test number
        ("5500005555555559", True),  # Mastercard test number
        ("378282246310005", True),  # Amex test number
        ("79927398713", True),  # the textbook example
        ("4111111111111112", False),
        ("1234567812345678", False),
        ("12a4", False),
    ],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("secret", "kind", "detail"),
    [
        ("sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9", "api_key", "openai"),
        ("sk-ant-api03-" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9", "api_key", "anthropic"),
        ("AKIA" + "IOSFODNN7EXAMPLE", "api_key", "aws_access_key_id"),
        ("ghp_" + "a" * 18 + "B" * 18, "api_key", "github"),
        ("xoxb-" + "1234567890-abcdefghij", "api_key", "slack"),
        ("AIza" + "SyA1234567890abcdefghijklmnopqrstuv", "api_key", "google"),
        ("Bearer " + "abcdefghijklmnop0123456789", "token", "authorization_header"),
        ("password=" + "correct-horse-battery", "token", "secret_assignment"),
        ("postgres://app:" + "s3cretpw@db.internal/app", "token", "url_credentials"),
        (JWT, "jwt", "json_web_token"),
        (PEM, "private_key", "pem_private_key"),
        ("ada.lovelace@example.org", "email", "email_address"),
        ("+44 20 7946 0958", "phone", "phone_number"),
        ("(555) 123-4567", "phone", "phone_number"),
        ("555-123-4567", "phone", "phone_number"),
        ("4111 1111 1111 1111", "card_number", "luhn_valid"),
        ("5500-0055-5555-5559", "card_number", "luhn_valid"),
    ],
)
def test_finds_each_kind_with_its_exact_span(secret: str, kind: str, detail: str) -> None:
    text = f"Please look at this: {secret} and tell me."
    found = detect(text)
    assert [(d.type, d.detail) for d in found] == [(kind, detail)]
    assert text[found[0].start : found[0].end].startswith(secret[:12])
    assert found[0].start == text.index(secret)


@pytest.mark.parametrize(
    "text",
    [
        "Show the logs from 2024-05-01 14:30 to 2024-05-02.",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        "document 3fa85f64-5717-4562-b3fc-2c963f66afa6 version 1.2.3",
        "card-like but not Luhn: 4111 1111 1111 1112",
        "order 1234567890123 shipped",  # 13 digits, starts with 1: no issuer
        "a token budget of 4096 tokens and api keys in general",
        "the doc-store on port 5087 answered in 12 ms",
    ],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert detect(text) == []


def test_overlaps_keep_the_most_specific_finding() -> None:
    found = detect(f"Authorization: Bearer {JWT}")
    assert [d.type for d in found] == ["jwt"]


def test_findings_are_per_message_and_carry_no_values() -> None:
    found = detect_messages(["nothing here", "mail me: bob@example.com, card 4111111111111111"])
    assert [(i, d.type) for i, d in found] == [(1, "email"), (1, "card_number")]
    for _, detection in found:
        assert "bob" not in repr(detection)
        assert "4111" not in repr(detection)
