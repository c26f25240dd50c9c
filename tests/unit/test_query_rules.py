"""The ``x-keyloft-query-rules`` extension (``keyloft.web.openapi.query_rules``): its two rule
shapes, as the conformance test's generator reads them."""

from __future__ import annotations

from keyloft.web.openapi import query_rules


def test_the_two_rule_shapes() -> None:
    assert query_rules.rules(
        query_rules.before("from", "to"),
        query_rules.max_span(
            "from", "to", days={"hour": 31, "day": 400}, by="interval", default="hour"
        ),
    ) == {
        "x-keyloft-query-rules": [
            {"rule": "before", "earlier": "from", "later": "to"},
            {
                "rule": "max-span",
                "from": "from",
                "to": "to",
                "days": {"hour": 31, "day": 400},
                "by": "interval",
                "default": "hour",
            },
        ]
    }
