"""Federated credentials: their checks (naming the field) and the exact match of a verified
token's issuer, subject, audience, claims and age against a rule."""

from __future__ import annotations

from typing import Any

import pytest

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.federation import (
    MAX_RULES,
    FederatedCredential,
    check_rules,
    check_url,
    mismatch,
    rules_from_stored,
)

GITHUB = "https://token.actions.githubusercontent.com"
OURS = "https://keyloft.example"
NOW = 1_800_000_000.0


def rule(**fields: Any) -> dict[str, Any]:
    return {
        "name": "deploy",
        "issuer": GITHUB,
        "subject": "repo:acme/payments:ref:refs/heads/main",
        "audiences": [],
        "claims": {"repository": "acme/payments", "run_attempt": 1, "fork": False},
    } | fields


def claims(**fields: Any) -> dict[str, Any]:
    return {
        "iss": GITHUB,
        "sub": "repo:acme/payments:ref:refs/heads/main",
        "aud": OURS,
        "iat": NOW - 30,
        "exp": NOW + 300,
        "repository": "acme/payments",
        "run_attempt": 1,
        "fork": False,
    } | fields


def test_a_rule_round_trips_through_its_stored_form() -> None:
    (checked,) = check_rules([rule(maxAgeSeconds=600)], "federatedCredentials", allow_http=False)
    assert rules_from_stored([checked.as_dict()]) == (checked,)
    assert checked.as_dict()["claims"] == {
        "fork": False,
        "repository": "acme/payments",
        "run_attempt": 1,
    }


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (rule(name=""), "federatedCredentials[0].name"),
        (rule(issuer="http://idp.example"), "federatedCredentials[0].issuer"),
        (rule(issuer="https://u:p@idp.example"), "federatedCredentials[0].issuer"),
        (rule(issuer="https://idp.example/#x"), "federatedCredentials[0].issuer"),
        (rule(issuer="not a url"), "federatedCredentials[0].issuer"),
        (rule(subject=""), "federatedCredentials[0].subject"),
        (rule(subject="x" * 513), "federatedCredentials[0].subject"),
        (rule(audiences="one"), "federatedCredentials[0].audiences"),
        (rule(audiences=[""]), "federatedCredentials[0].audiences[0]"),
        (rule(claims={"sub": "x"}), "federatedCredentials[0].claims.sub"),
        (rule(claims={"ref": None}), "federatedCredentials[0].claims.ref"),
        (rule(claims={"ref": ["a"]}), "federatedCredentials[0].claims.ref"),
        (rule(claims=["ref"]), "federatedCredentials[0].claims"),
        (rule(maxAgeSeconds=0), "federatedCredentials[0].maxAgeSeconds"),
        (rule(maxAgeSeconds=True), "federatedCredentials[0].maxAgeSeconds"),
        ("rule", "federatedCredentials[0]"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_field(raw: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_rules([raw], "federatedCredentials", allow_http=False)
    assert refused.value.field == field


def test_rules_are_few_and_named_once() -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_rules([rule(name=f"r{i}") for i in range(MAX_RULES + 1)], "f", allow_http=False)
    assert refused.value.field == "f"
    with pytest.raises(ValidationFailed) as refused:
        check_rules([rule(), rule()], "f", allow_http=False)
    assert refused.value.field == "f[1].name"


def test_http_issuers_only_when_allowed() -> None:
    assert check_url("http://127.0.0.1:8080", "issuer", allow_http=True) == "http://127.0.0.1:8080"
    with pytest.raises(ValidationFailed):
        check_url("http://127.0.0.1:8080", "issuer", allow_http=False)
    with pytest.raises(ValidationFailed):
        check_url("ftp://idp.example", "issuer", allow_http=True)


@pytest.mark.parametrize("url", ["https://[abc/jwks", "https://[::1", "https://:443/"])
def test_a_url_without_a_readable_host_is_refused_naming_the_field(url: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_url(url, "jwksUri", allow_http=False)
    assert refused.value.field == "jwksUri"


def _judge(raw: dict[str, Any], token: dict[str, Any]) -> str | None:
    (checked,) = check_rules([raw], "f", allow_http=False)
    return mismatch(checked, token, default_audience=OURS, now=NOW, skew=60)


@pytest.mark.parametrize(
    ("raw", "token", "reason"),
    [
        (rule(), claims(), None),
        (rule(), claims(aud=["other", OURS]), None),
        (rule(audiences=["sts.amazonaws.com"]), claims(aud="sts.amazonaws.com"), None),
        (rule(), claims(iss=GITHUB + "/"), "issuer"),
        (rule(), claims(sub="repo:acme/payments:ref:refs/heads/dev"), "subject"),
        (rule(), claims(sub="repo:acme/payments:ref:refs/heads/main "), "subject"),
        (rule(), claims(aud="https://elsewhere.example"), "audience"),
        (rule(), claims(aud=None), "audience"),
        (rule(audiences=["sts.amazonaws.com"]), claims(), "audience"),
        (rule(), claims(repository="acme/payments-fork"), "claim"),
        (rule(), {k: v for k, v in claims().items() if k != "repository"}, "claim"),
        (rule(), claims(run_attempt="1"), "claim"),  # a string is not the number 1
        (rule(), claims(run_attempt=True), "claim"),  # nor is true
        (rule(), claims(fork=0), "claim"),  # and 0 is not false
        (rule(maxAgeSeconds=60), claims(iat=NOW - 100), None),  # within the skew
        (rule(maxAgeSeconds=60), claims(iat=NOW - 121), "too_old"),
        (rule(maxAgeSeconds=60), {k: v for k, v in claims().items() if k != "iat"}, "too_old"),
    ],
)
def test_a_token_matches_a_rule_exactly(
    raw: dict[str, Any], token: dict[str, Any], reason: str | None
) -> None:
    assert _judge(raw, token) == reason


def test_a_rule_without_claims_asks_only_issuer_subject_and_audience() -> None:
    bare = FederatedCredential("k8s", "https://k8s.example", "system:serviceaccount:pay:api")
    token = {"iss": "https://k8s.example", "sub": "system:serviceaccount:pay:api", "aud": [OURS]}
    assert mismatch(bare, token, default_audience=OURS, now=NOW, skew=60) is None
