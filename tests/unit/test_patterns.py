"""Resource patterns: validation messages, limits, RE2-only syntax and linear-time matching."""

from __future__ import annotations

import time

import pytest

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.patterns import (
    MAX_PATTERN_LENGTH,
    MAX_PATTERNS,
    full_match,
    validate_patterns,
)
from keyloft.domain.scopes import DEFAULT_ENTITIES, Grant, Permission, decide

FIELD = "scopes[0].resources"


def _failure(patterns: object) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        validate_patterns(patterns, FIELD)
    return caught.value


def test_valid_patterns_come_back_as_a_tuple() -> None:
    patterns = [r"/v3/targetGroups/\d+", ".*v2/coupons.*", r"(?i)/v3/x"]
    assert validate_patterns(patterns, FIELD) == tuple(patterns)
    assert validate_patterns((), FIELD) == ()


def test_error_names_the_field_with_its_index() -> None:
    error = _failure(["/a", "/b", "/c", "("])
    assert error.field == "scopes[0].resources[3]"
    assert "scopes[0].resources[3]" in error.message
    assert error.code == 1001


def test_limit_of_patterns() -> None:
    assert MAX_PATTERNS == 20
    allowed = [f"/p{n}" for n in range(MAX_PATTERNS)]
    assert len(validate_patterns(allowed, FIELD)) == MAX_PATTERNS
    error = _failure([*allowed, "/one-more"])
    assert error.field == FIELD
    assert "20" in error.message


def test_limit_of_pattern_length() -> None:
    assert MAX_PATTERN_LENGTH == 512
    longest = "/" + "a" * (MAX_PATTERN_LENGTH - 1)
    assert validate_patterns([longest], FIELD) == (longest,)
    error = _failure(["/ok", longest + "a"])
    assert error.field == f"{FIELD}[1]"
    assert "512" in error.message


def test_duplicates_name_the_repeat() -> None:
    error = _failure(["/a", "/b", "/a"])
    assert error.field == f"{FIELD}[2]"


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("/a\n", id="newline"),
        pytest.param("/a\tb", id="tab"),
        pytest.param("/a\x00", id="nul"),
        pytest.param("/a\x1b", id="escape"),
        pytest.param("/a\x7f", id="del"),
    ],
)
def test_control_characters_refused(pattern: str) -> None:
    error = _failure(["/ok", pattern])
    assert error.field == f"{FIELD}[1]"
    assert "control" in error.message


def test_escaped_control_characters_are_fine() -> None:
    assert validate_patterns([r"/a\n"], FIELD) == (r"/a\n",)


@pytest.mark.parametrize(
    "patterns",
    [
        pytest.param("/a", id="string-not-list"),
        pytest.param(None, id="none"),
        pytest.param({"/a": 1}, id="dict"),
    ],
)
def test_not_a_list(patterns: object) -> None:
    assert _failure(patterns).field == FIELD


@pytest.mark.parametrize(
    "item",
    [pytest.param("", id="empty"), pytest.param(5, id="int"), pytest.param(None, id="none")],
)
def test_items_must_be_non_empty_strings(item: object) -> None:
    assert _failure(["/a", item]).field == f"{FIELD}[1]"


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("(", id="open-group"),
        pytest.param("[a-", id="open-class"),
        pytest.param("*a", id="bare-star"),
        pytest.param("a{2,1}", id="bad-range"),
        pytest.param("a{1001}", id="huge-repeat"),
        pytest.param("(?=a)", id="lookahead"),
        pytest.param("(?!a)", id="negative-lookahead"),
        pytest.param("(?<=a)b", id="lookbehind"),
        pytest.param(r"(a)\1", id="backreference"),
        pytest.param("(?P<n>a)(?P=n)", id="named-backreference"),
        pytest.param("(?>a)", id="atomic-group"),
        pytest.param("a*+", id="possessive"),
    ],
)
def test_invalid_or_unsupported_syntax(pattern: str) -> None:
    error = _failure([pattern])
    assert error.field == f"{FIELD}[0]"
    assert "RE2" in error.message


def test_full_match_is_anchored_both_ends() -> None:
    assert full_match("/v3/a", "/v3/a")
    assert not full_match("/v3/a", "/v3/ab")
    assert not full_match("/v3/a", "x/v3/a")
    assert not full_match("/v3/a$", "/v3/a\n")


CATASTROPHIC = ["(a+)+$", "(a|aa)+$", "(a*)*b", "(.*a){20}", "(x+x+)+y"]


def test_catastrophic_patterns_validate_and_match_in_linear_time() -> None:
    paths = ["/" + "a" * 10_000, "a" * 10_000 + "!", "/" + "a" * 9_998 + "\u00e9", "x" * 10_000]
    assert validate_patterns(CATASTROPHIC, FIELD) == tuple(CATASTROPHIC)
    started = time.perf_counter()
    results = [full_match(p, path) for p in CATASTROPHIC for path in paths]
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"{len(results)} matches took {elapsed:.3f}s"
    assert full_match("(a+)+$", "a" * 10_000)
    assert not full_match("(a+)+$", "a" * 10_000 + "!")


def test_catastrophic_resource_in_a_decision_is_fast() -> None:
    grant = Grant(2, Permission.READWRITE, tuple(CATASTROPHIC))
    path = "/" + "a" * 10_000 + "!"
    started = time.perf_counter()
    decisions = [decide(DEFAULT_ENTITIES, (grant,), "GET", path) for _ in range(10)]
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"10 decisions took {elapsed:.3f}s"
    assert {d.reason for d in decisions} == {"resource"}
