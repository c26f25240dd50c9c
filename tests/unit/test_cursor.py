"""Page cursors (``keyloft.services.cursor``): the readable ``{kind}.{id}`` form, the pattern
each kind publishes, and that every value the pattern admits is a cursor of that kind whose id
fits the store, while another kind's cursor or anything else is refused naming ``cursor``."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyloft.domain.errors import ValidationFailed
from keyloft.services.cursor import (
    AUDIT_CURSOR,
    CLIENT_CURSOR,
    CLIENT_CURSOR_MAX_LENGTH,
    CLIENT_CURSOR_PATTERN,
    DELIVERY_CURSOR,
    cursor_max_length,
    cursor_pattern,
    decode_cursor,
    encode_cursor,
)

KINDS = (CLIENT_CURSOR, AUDIT_CURSOR, DELIVERY_CURSOR)
LARGEST_ID = 2**63 - 1


def test_a_cursor_reads_as_its_kind_and_row_id() -> None:
    assert encode_cursor(AUDIT_CURSOR, 42) == "a1.42"
    assert decode_cursor(AUDIT_CURSOR, "a1.42") == 42
    assert re.search(cursor_pattern(AUDIT_CURSOR), "a1.42")


def test_the_clients_kind_is_published_for_its_query() -> None:
    assert CLIENT_CURSOR == "c1"
    assert CLIENT_CURSOR_PATTERN == cursor_pattern("c1") == r"^c1\.[1-9][0-9]{0,17}$"
    assert CLIENT_CURSOR_MAX_LENGTH == cursor_max_length("c1") == 21


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_every_value_the_pattern_admits_is_a_cursor_whose_id_fits_the_store(
    kind: str, data: st.DataObject
) -> None:
    value = data.draw(st.from_regex(cursor_pattern(kind), fullmatch=True))
    row_id = decode_cursor(kind, value)
    assert 1 <= row_id <= LARGEST_ID
    assert len(value) <= cursor_max_length(kind)
    with pytest.raises(ValidationFailed):  # the line feed Python's "$" lets in
        decode_cursor(kind, value + "\n")
    assert decode_cursor(kind, encode_cursor(kind, row_id)) == row_id


@pytest.mark.parametrize(("kind", "other"), list(itertools.permutations(KINDS, 2)))
def test_another_lists_cursor_is_refused(kind: str, other: str) -> None:
    cursor = encode_cursor(other, 7)
    assert not re.search(cursor_pattern(kind), cursor)
    with pytest.raises(ValidationFailed) as refused:
        decode_cursor(kind, cursor)
    assert refused.value.field == "cursor"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a1.",
        "a1.0",
        "a1.007",
        "a1.-1",
        "a1.1.2",
        "a1:5",
        "YTE6NQ",  # the former base64url("a1:5")
        "a1." + "9" * 19,  # beyond 18 digits: could overflow the store's ids
        " a1.5",
        "a1.5 ",
        "a1.\u0665",  # an Arabic-Indic digit
    ],
)
def test_malformed_cursors_are_refused_and_match_no_pattern(value: str) -> None:
    assert not re.search(cursor_pattern(AUDIT_CURSOR), value)
    with pytest.raises(ValidationFailed) as refused:
        decode_cursor(AUDIT_CURSOR, value)
    assert refused.value.field == "cursor"


def test_the_largest_cursor_fits_a_signed_64_bit_id() -> None:
    assert decode_cursor(DELIVERY_CURSOR, "w1." + "9" * 18) == 10**18 - 1 < LARGEST_ID
