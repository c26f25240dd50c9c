"""How ``keyloft apply`` reports what applying did: per org applied, unchanged, failed or skipped
(after a failure), the new credentials only in that report, and in JSON each org's status with
its error and line."""

from __future__ import annotations

from keyloft.cli.plan_output import outcome_text, plan_json, plan_text
from keyloft.manifest.model import OrgSpec
from keyloft.manifest.problems import Problem
from keyloft.services.manifest_apply import NewClient, OrgOutcome, OrgResult
from keyloft.services.manifest_plan import Action, Change, ClientStep, OrgPlan, Plan


def _org(index: int, name: str, action: Action) -> OrgPlan:
    change = Change(action, "org", name, ("orgs", index, "name"), {})
    client = Change(
        "update" if action == "update" else "unchanged",
        "client",
        "app",
        ("orgs", index, "clients", 0, "name"),
        {"expirationTokenTime": [600, 900]} if action == "update" else {},
    )
    return OrgPlan(
        index=index,
        spec=OrgSpec(name=name),
        state=None,
        org=change,
        settings_first={},
        settings_last={},
        entities=[],
        tills=[],
        clients=[ClientStep(client, None, None)],
        undeclared=[],
    )


PLAN = Plan(
    [
        _org(0, "Acme", "update"),
        _org(1, "Globex", "update"),
        _org(2, "Initech", "update"),
        _org(3, "Hooli", "unchanged"),
    ],
    prune=False,
)
OUTCOMES = [
    OrgOutcome("applied", OrgResult(1, {"app": NewClient("k" * 25, "s" * 40)})),
    OrgOutcome("failed", problem=Problem(("orgs", 1, "clients", 0), "it changed")),
    OrgOutcome("skipped", OrgResult(3)),
    OrgOutcome("unchanged", OrgResult(4)),
]


def test_the_text_report_says_what_happened_to_each_org() -> None:
    assert outcome_text(PLAN, OUTCOMES) == [
        'org "Acme": applied (id 1)',
        'org "Globex": failed, nothing of it applied',
        'org "Initech": not applied (an org before it failed)',
        'org "Hooli": nothing to change',
        "",
        "New credentials, shown only now (Keyloft keeps no copy):",
        f'  org "Acme" client "app": key {"k" * 25}  secret {"s" * 40}',
    ]


def test_the_plan_never_holds_a_credential() -> None:
    text = plan_text(PLAN)
    assert '~ update client "app": expirationTokenTime 600 -> 900' in text
    assert "s" * 40 not in text
    assert "s" * 40 not in str(plan_json("f.yaml", PLAN, None, dry_run=True))


def test_the_json_report_has_each_org_s_status_error_and_line() -> None:
    report = plan_json("f.yaml", PLAN, OUTCOMES, dry_run=False, problem_line={1: 17})
    assert [org["status"] for org in report["orgs"]] == [
        "applied",
        "failed",
        "skipped",
        "unchanged",
    ]
    assert report["orgs"][0]["clients"] == {
        "app": {"clientKey": "k" * 25, "clientSecret": "s" * 40}
    }
    assert report["orgs"][1]["error"] == {
        "line": 17,
        "field": "orgs[1].clients[0]",
        "message": "it changed",
    }
    assert "error" not in report["orgs"][2]


def test_a_dry_run_reports_planned_orgs() -> None:
    report = plan_json("f.yaml", PLAN, None, dry_run=True)
    assert [org["status"] for org in report["orgs"]] == [
        "planned",
        "planned",
        "planned",
        "unchanged",
    ]
    assert "clients" not in report["orgs"][0]
