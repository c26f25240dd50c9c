"""How ``keyloft apply`` shows a plan and what applying it did: as text for people (one line per
change, like ``terraform plan``: ``+`` create, ``~`` update, ``-`` delete, and the unchanged
counted), or as one JSON document. New clients' secrets and new Tills' passwords appear only
in what applying returned, under the client's name or the Till's code, never in a plan's
fields."""

from __future__ import annotations

import json
from typing import Any

from keyloft.manifest.problems import Problem
from keyloft.services.manifest_apply import OrgOutcome
from keyloft.services.manifest_plan import Change, OrgPlan, Plan

_SIGNS = {"create": "+", "update": "~", "delete": "-"}
_KINDS = {"org": "org", "scopeEntity": "scope entity", "till": "till", "client": "client"}
_PLURALS = {"org": "org", "scopeEntity": "scope entities", "till": "tills", "client": "clients"}


def plan_json(
    file: str,
    plan: Plan,
    outcomes: list[OrgOutcome] | None,
    *,
    dry_run: bool,
    problem_line: dict[int, int] | None = None,
) -> dict[str, Any]:
    """The plan and, once applied, each org's outcome with the credentials made."""
    orgs = []
    for index, org in enumerate(plan.orgs):
        outcome = outcomes[index] if outcomes is not None else None
        entry: dict[str, Any] = {
            "name": org.spec.name,
            "id": org.state.org.id if org.state is not None else None,
            "status": _status(org, outcome, dry_run=dry_run),
            "changes": [_change_json(change) for change in org.changes],
            "undeclaredClients": org.undeclared,
        }
        if outcome is not None:
            result = outcome.result
            entry["id"] = result.org_id if result.org_id is not None else entry["id"]
            entry["clients"] = {
                name: {"clientKey": made.client_key, "clientSecret": made.secret}
                for name, made in result.clients.items()
            }
            entry["tills"] = {
                code: {"id": till_id, "password": password}
                for code, (till_id, password) in result.tills.items()
            }
            if outcome.problem is not None:
                line = (problem_line or {}).get(index)
                entry["error"] = problem_json(outcome.problem, line)
        orgs.append(entry)
    return {
        "file": file,
        "dryRun": dry_run,
        "prune": plan.prune,
        "summary": plan.summary,
        "orgs": orgs,
    }


def _status(org: OrgPlan, outcome: OrgOutcome | None, *, dry_run: bool) -> str:
    if outcome is not None:
        return outcome.status
    return "planned" if org.writes and dry_run else "unchanged"


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action,
        "type": change.kind,
        "name": change.name,
        "fields": change.fields,
    }


def problem_json(problem: Problem, line: int | None) -> dict[str, Any]:
    return {"line": line, "field": problem.field, "message": problem.message}


def plan_text(plan: Plan) -> str:
    lines: list[str] = []
    for org in plan.orgs:
        where = f"id {org.state.org.id}" if org.state is not None else "new"
        lines.append(f'org "{org.spec.name}" ({where})')
        unchanged: dict[str, int] = {}
        for change in org.changes:
            if change.action == "unchanged":
                unchanged[change.kind] = unchanged.get(change.kind, 0) + 1
            else:
                lines += _change_text(change)
        if unchanged:
            counted = ", ".join(
                f"{count} {_PLURALS[kind] if count != 1 else _KINDS[kind]}"
                for kind, count in unchanged.items()
            )
            lines.append(f"  = unchanged: {counted}")
        if org.undeclared:
            names = ", ".join(f'"{name}"' for name in org.undeclared)
            lines.append(f"  ! not in the file, left as they are (--prune deletes them): {names}")
    summary = plan.summary
    lines.append("")
    lines.append(
        f"Plan: {summary['create']} to create, {summary['update']} to update, "
        f"{summary['delete']} to delete, {summary['unchanged']} unchanged."
    )
    return "\n".join(lines)


def _change_text(change: Change) -> list[str]:
    head = f'  {_SIGNS[change.action]} {change.action} {_KINDS[change.kind]} "{change.name}"'
    fields = change.fields
    if change.action == "update" and len(fields) == 1:
        ((name, (before, after)),) = fields.items()
        return [f"{head}: {name} {_value(name, before)} -> {_value(name, after)}"]
    if change.action == "update":
        return [head] + [
            f"      {name}: {_value(name, before)} -> {_value(name, after)}"
            for name, (before, after) in fields.items()
        ]
    return [head] + [f"      {name}: {_value(name, after)}" for name, (_, after) in fields.items()]


def _value(name: str, value: Any) -> str:
    """A field's value, compactly: scopes as ``Entity PERMISSION (patterns)``, keys by
    thumbprint, everything else as JSON."""
    if name == "scopes" and isinstance(value, list):
        return "[" + ", ".join(_scope(scope) for scope in value) + "]"
    if name == "jwks" and isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _scope(scope: dict[str, Any]) -> str:
    text = f"{scope['entity']} {scope['permission']}"
    resources = scope.get("resources") or []
    return text + (f" ({' '.join(resources)})" if resources else "")


def outcome_text(plan: Plan, outcomes: list[OrgOutcome]) -> list[str]:
    """What applying did per org, then the credentials it made, shown only now."""
    lines: list[str] = []
    credentials: list[str] = []
    for org, outcome in zip(plan.orgs, outcomes, strict=True):
        name = f'org "{org.spec.name}"'
        if outcome.status == "applied":
            lines.append(f"{name}: applied (id {outcome.result.org_id})")
        elif outcome.status == "unchanged":
            lines.append(f"{name}: nothing to change")
        elif outcome.status == "skipped":
            lines.append(f"{name}: not applied (an org before it failed)")
        else:
            lines.append(f"{name}: failed, nothing of it applied")
        for client, made in outcome.result.clients.items():
            secret = f"  secret {made.secret}" if made.secret is not None else "  (no secret)"
            credentials.append(f'  {name} client "{client}": key {made.client_key}{secret}')
        for code, (till_id, password) in outcome.result.tills.items():
            credentials.append(f'  {name} till "{code}" (id {till_id}): password {password}')
    if credentials:
        lines += ["", "New credentials, shown only now (Keyloft keeps no copy):", *credentials]
    return lines
