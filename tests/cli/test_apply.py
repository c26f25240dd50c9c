"""``keyloft apply`` and ``keyloft export`` end to end on the embedded database: the plan it
prints (exact lines and field diffs), what it writes and audits, that a second apply of the
same file writes nothing, that new secrets are printed once and kept nowhere on disk, that
``--prune`` deletes only the declared orgs' undeclared clients, that an exported org applies
back unchanged, and that a file with any problem names its file, line and field and changes
nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import Result

from keyloft.config import Settings
from keyloft.domain.client_keys import thumbprint
from keyloft.runtime import build_runtime
from keyloft.web.app import create_app
from tests.support.cli import Invoke, as_json, rows

FILE = "partners.yaml"
ACME = """\
version: 1
orgs:
  - name: Acme
    maxClients: 20
    tills:
      - code: acme.till.1
        name: Acme Till 1
    clients:
      - name: orders-sync
        description: Nightly order export
        expirationTokenTime: 600
        defaultTill: acme.till.1
        scopes:
          - entity: TargetGroups
            permission: READWRITE
            resources: ['.*v3/targetGroups.*']
      - name: billing
        expirationTokenTime: 3600
        defaultTill: acme.till.1
        scopes:
          - entity: All
            permission: READ
"""
TABLES = ("orgs", "principals", "scope_entities", "clients", "client_grants", "audit_events")


def _write(workdir: Path, text: str, name: str = FILE) -> str:
    (workdir / name).write_text(text, encoding="utf-8")
    return name


def _state(workdir: Path) -> dict[str, list[Any]]:
    """Every row that apply could write."""
    db = workdir / "keyloft.db"
    return {table: rows(db, f"SELECT * FROM {table} ORDER BY 1, 2") for table in TABLES}


def _audit(workdir: Path, since: int = 0) -> list[tuple[Any, ...]]:
    return rows(
        workdir / "keyloft.db",
        "SELECT action, target, actor_id, operator, request_id FROM audit_events "
        "WHERE id > ? ORDER BY id",
        since,
    )


def _last_audit_id(workdir: Path) -> int:
    ((found,),) = rows(workdir / "keyloft.db", "SELECT coalesce(max(id), 0) FROM audit_events")
    return int(found)


def _apply(keyloft: Invoke, *args: str) -> Result:
    result = keyloft("apply", "-f", FILE, *args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def _refused(keyloft: Invoke, *args: str) -> Result:
    result = keyloft("apply", "-f", FILE, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result


def _plan(output: str) -> list[str]:
    """The plan's lines: up to and with the "Plan:" summary."""
    lines = output.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("Plan: "))
    return lines[: end + 1]


def _ec_jwk(kid: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid}


def test_apply_creates_what_the_file_declares_and_prints_its_plan(
    initialised: Invoke, workdir: Path
) -> None:
    _write(workdir, ACME)
    since = _last_audit_id(workdir)  # init's own
    result = _apply(initialised)
    assert _plan(result.stdout) == [
        'org "Acme" (new)',
        '  + create org "Acme"',
        '      timezone: "UTC"',
        "      maxClients: 20",
        "      maxTokenTtl: 3600",
        '  + create till "acme.till.1"',
        '      name: "Acme Till 1"',
        '  + create client "orders-sync"',
        '      description: "Nightly order export"',
        "      expirationTokenTime: 600",
        '      defaultTill: "acme.till.1"',
        "      scopes: [TargetGroups READWRITE (.*v3/targetGroups.*)]",
        '      tokenEndpointAuthMethod: "client_secret_basic"',
        '  + create client "billing"',
        "      expirationTokenTime: 3600",
        '      defaultTill: "acme.till.1"',
        "      scopes: [All READ]",
        '      tokenEndpointAuthMethod: "client_secret_basic"',
        "",
        "Plan: 4 to create, 0 to update, 0 to delete, 0 unchanged.",
    ]
    assert 'org "Acme": applied (id 1)' in result.stdout
    assert "New credentials, shown only now (Keyloft keeps no copy):" in result.stdout
    db = workdir / "keyloft.db"
    assert rows(db, "SELECT name, timezone, max_clients FROM orgs") == [("Acme", "UTC", 20)]
    assert rows(
        db,
        "SELECT c.name, c.expiration_token_time, p.code, c.is_valid, c.created_by_id = p.id "
        "FROM clients c JOIN principals p ON p.id = c.default_till_id ORDER BY c.id",
    ) == [("orders-sync", 600, "acme.till.1", 1, 1), ("billing", 3600, "acme.till.1", 1, 1)]
    audit = _audit(workdir, since)
    assert [(action, target) for action, target, *_ in audit] == [
        ("org.create", "1"),
        ("till.create", "acme.till.1"),
        ("client.create", rows(db, "SELECT client_key FROM clients WHERE id = 1")[0][0]),
        ("client.create", rows(db, "SELECT client_key FROM clients WHERE id = 2")[0][0]),
    ]
    # Every change is the operator's, from this one command.
    assert {(actor, request[:4]) for _, _, actor, _, request in audit} == {(None, "cli-")}
    assert len({(operator, request) for *_, operator, request in audit}) == 1


def test_a_dry_run_prints_the_plan_and_changes_nothing(initialised: Invoke, workdir: Path) -> None:
    _write(workdir, ACME)
    before = _state(workdir)
    dry = _apply(initialised, "--dry-run")
    assert _plan(dry.stdout)[-1] == "Plan: 4 to create, 0 to update, 0 to delete, 0 unchanged."
    assert dry.stdout.splitlines()[-1] == "Dry run: nothing was changed."
    assert "New credentials" not in dry.stdout
    report = as_json(initialised("apply", "-f", FILE, "--dry-run", "--json"))
    assert [org["status"] for org in report["orgs"]] == ["planned"]
    assert "clients" not in report["orgs"][0]
    assert _state(workdir) == before


def test_a_second_apply_of_the_same_file_changes_and_audits_nothing(
    initialised: Invoke, workdir: Path
) -> None:
    _write(workdir, ACME)
    _apply(initialised)
    before = _state(workdir)
    result = _apply(initialised)
    assert result.stdout.splitlines() == [
        'org "Acme" (id 1)',
        "  = unchanged: 1 org, 1 till, 2 clients",
        "",
        "Plan: 0 to create, 0 to update, 0 to delete, 4 unchanged.",
        "No changes: Keyloft already matches the file.",
    ]
    report = as_json(initialised("apply", "-f", FILE, "--json"))
    assert report["summary"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 4}
    assert [org["status"] for org in report["orgs"]] == ["unchanged"]
    assert {change["action"] for change in report["orgs"][0]["changes"]} == {"unchanged"}
    assert _state(workdir) == before


async def _token(key: str, secret: str) -> int:
    runtime = await build_runtime(Settings())
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://keyloft.test") as http:
            answer = await http.post(
                "/v3/oauth/token/generate", json={"key": key, "secret": secret}
            )
            return answer.status_code
    finally:
        await runtime.close()


def test_new_secrets_are_printed_once_under_the_client_name_and_stored_nowhere(
    initialised: Invoke, workdir: Path
) -> None:
    _write(workdir, ACME)
    report = as_json(initialised("apply", "-f", FILE, "--json"))
    (org,) = report["orgs"]
    assert org["status"] == "applied"
    assert set(org["clients"]) == {"orders-sync", "billing"}
    assert set(org["tills"]) == {"acme.till.1"}
    made = org["clients"]["orders-sync"]
    secret = made["clientSecret"]
    assert len(secret) == 40
    assert asyncio.run(_token(made["clientKey"], secret)) == 200
    # The plan's fields never hold a secret.
    assert secret not in json.dumps(org["changes"])
    again = initialised("apply", "-f", FILE, "--json")
    assert secret not in again.stdout
    secrets = [
        org["clients"]["orders-sync"]["clientSecret"],
        org["clients"]["billing"]["clientSecret"],
        org["tills"]["acme.till.1"]["password"],
    ]
    for path in workdir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for value in secrets:
                assert value.encode() not in content, path


def test_an_update_shows_exactly_the_fields_that_change(initialised: Invoke, workdir: Path) -> None:
    _write(workdir, ACME)
    _apply(initialised)
    since = _last_audit_id(workdir)
    changed = (
        ACME.replace("expirationTokenTime: 3600", "expirationTokenTime: 1800")
        .replace("permission: READ\n", "permission: READWRITE\n")
        .replace("description: Nightly order export", "description: Hourly order export")
    )
    _write(workdir, changed)
    result = _apply(initialised)
    assert _plan(result.stdout) == [
        'org "Acme" (id 1)',
        '  ~ update client "orders-sync": description "Nightly order export" -> '
        '"Hourly order export"',
        '  ~ update client "billing"',
        "      expirationTokenTime: 3600 -> 1800",
        "      scopes: [All READ] -> [All READWRITE]",
        "  = unchanged: 1 org, 1 till",
        "",
        "Plan: 0 to create, 2 to update, 0 to delete, 2 unchanged.",
    ]
    assert "New credentials" not in result.stdout  # an update issues no secret
    audit = _audit(workdir, since)
    assert [action for action, *_ in audit] == ["client.update", "client.update"]
    (changes,) = rows(
        workdir / "keyloft.db",
        "SELECT changes FROM audit_events WHERE id = ?",
        since + 2,
    )[0]
    assert json.loads(changes)["expirationTokenTime"] == [3600, 1800]


def test_scopes_and_resources_compare_in_any_order(initialised: Invoke, workdir: Path) -> None:
    two = ACME.replace(
        "            resources: ['.*v3/targetGroups.*']\n",
        "            resources: ['.*v3/targetGroups.*', '.*v3/audiences.*']\n"
        "          - entity: All\n            permission: READ\n",
    )
    _write(workdir, two)
    _apply(initialised)
    reordered = two.replace(
        "resources: ['.*v3/targetGroups.*', '.*v3/audiences.*']",
        "resources: ['.*v3/audiences.*', '.*v3/targetGroups.*']",
    )
    # All before TargetGroups now.
    head, tail = reordered.split("          - entity: TargetGroups\n", 1)
    block, rest = tail.split("          - entity: All\n            permission: READ\n", 1)
    reordered = (
        head
        + "          - entity: All\n            permission: READ\n"
        + "          - entity: TargetGroups\n"
        + block
        + rest
    )
    assert reordered != two
    _write(workdir, reordered)
    report = as_json(initialised("apply", "-f", FILE, "--json"))
    assert report["summary"]["update"] == 0


def test_org_settings_the_file_gives_are_changed_and_those_it_leaves_out_kept(
    initialised: Invoke, workdir: Path
) -> None:
    _write(workdir, ACME.replace("    maxClients: 20\n", "    maxClients: 20\n    timezone: UTC\n"))
    _apply(initialised)
    _write(workdir, ACME.replace("maxClients: 20", "maxClients: 60"))
    result = _apply(initialised)
    assert _plan(result.stdout)[1] == '  ~ update org "Acme": maxClients 20 -> 60'
    assert rows(workdir / "keyloft.db", "SELECT timezone, max_clients FROM orgs") == [("UTC", 60)]


def _two_orgs(workdir: Path, keyloft: Invoke) -> None:
    globex = """\
  - name: Globex
    tills: [{code: globex.till.1}]
    clients:
      - name: legacy
        expirationTokenTime: 60
        defaultTill: globex.till.1
        scopes: [{entity: All, permission: READ}]
"""
    _write(workdir, ACME + globex)
    _apply(keyloft)


def test_undeclared_clients_are_kept_and_named_without_prune(
    initialised: Invoke, workdir: Path
) -> None:
    _two_orgs(workdir, initialised)
    without_billing = ACME.split("      - name: billing\n")[0]
    _write(workdir, without_billing)
    before = _state(workdir)
    result = _apply(initialised)
    assert _plan(result.stdout) == [
        'org "Acme" (id 1)',
        "  = unchanged: 1 org, 1 till, 1 client",
        '  ! not in the file, left as they are (--prune deletes them): "billing"',
        "",
        "Plan: 0 to create, 0 to update, 0 to delete, 3 unchanged.",
    ]
    assert _state(workdir) == before


def test_prune_deletes_the_declared_orgs_undeclared_clients_only(
    initialised: Invoke, workdir: Path
) -> None:
    _two_orgs(workdir, initialised)
    without_billing = ACME.split("      - name: billing\n")[0]
    _write(workdir, without_billing)
    dry = _apply(initialised, "--prune", "--dry-run")
    assert _plan(dry.stdout) == [
        'org "Acme" (id 1)',
        '  - delete client "billing"',
        "  = unchanged: 1 org, 1 till, 1 client",
        "",
        "Plan: 0 to create, 0 to update, 1 to delete, 3 unchanged.",
    ]
    assert dry.stdout.splitlines()[-1] == "Dry run: nothing was changed."
    since = _last_audit_id(workdir)
    _apply(initialised, "--prune")
    db = workdir / "keyloft.db"
    assert rows(db, "SELECT name, is_valid FROM clients ORDER BY id") == [
        ("orders-sync", 1),
        ("billing", 0),
        ("legacy", 1),  # Globex is not in the file: never pruned
    ]
    assert [(action, actor) for action, _, actor, *_ in _audit(workdir, since)] == [
        ("client.delete", None)
    ]


def test_a_client_s_keys_show_by_thumbprint_and_a_switch_to_a_secret_prints_it(
    initialised: Invoke, workdir: Path
) -> None:
    first, second = _ec_jwk("k1"), _ec_jwk("k2")
    secretless = ACME + (
        "        tokenEndpointAuthMethod: private_key_jwt\n"
        f"        jwks: {json.dumps({'keys': [first]})}\n"
    )
    _write(workdir, secretless)
    created = as_json(initialised("apply", "-f", FILE, "--json"))
    billing = created["orgs"][0]["clients"]["billing"]
    assert billing["clientSecret"] is None
    fields = next(c for c in created["orgs"][0]["changes"] if c["name"] == "billing")["fields"]
    assert fields["jwks"] == [None, [f"{thumbprint(first)} kid=k1"]]
    rotated = secretless.replace(json.dumps({"keys": [first]}), json.dumps({"keys": [second]}))
    _write(workdir, rotated)
    result = _apply(initialised)
    assert (
        f'  ~ update client "billing": jwks [{thumbprint(first)} kid=k1] -> '
        f"[{thumbprint(second)} kid=k2]" in result.stdout
    )
    assert second["x"] not in result.stdout  # key material is never shown
    _write(workdir, ACME)  # back to a secret: the update issues one, shown once
    switched = as_json(initialised("apply", "-f", FILE, "--json"))
    (org,) = switched["orgs"]
    assert set(org["clients"]) == {"billing"}
    assert len(org["clients"]["billing"]["clientSecret"]) == 40
    change = next(c for c in org["changes"] if c["name"] == "billing")
    assert change["fields"]["tokenEndpointAuthMethod"] == ["private_key_jwt", "client_secret_basic"]
    assert change["fields"]["jwks"] == [[f"{thumbprint(second)} kid=k2"], None]


def test_an_exported_org_applies_back_unchanged_and_holds_no_secret(
    initialised: Invoke, workdir: Path
) -> None:
    full = ACME + (
        "        description: Partner with keys\n"
        "        tokenEndpointAuthMethod: private_key_jwt\n"
        f"        jwks: {json.dumps({'keys': [_ec_jwk('k1'), _ec_jwk('k2')]})}\n"
        "        dpopBoundAccessTokens: true\n"
        "        federatedCredentials:\n"
        "          - name: ci\n"
        "            issuer: https://token.actions.githubusercontent.com\n"
        "            subject: repo:acme/app:ref:refs/heads/main\n"
        "            audiences: [https://keyloft.example, https://api.example]\n"
        "            claims: {repository: acme/app, run_attempt: 1, fork: false}\n"
        "            maxAgeSeconds: 600\n"
    )
    _write(
        workdir,
        full.replace(
            "    tills:\n",
            "    scopeEntities:\n      - {name: Coupons, pattern: '.*/coupons.*'}\n    tills:\n",
        ),
    )
    created = as_json(initialised("apply", "-f", FILE, "--json"))
    secret = created["orgs"][0]["clients"]["orders-sync"]["clientSecret"]
    exported = initialised("export", "--org", "1", "-o", "exported.yaml")
    assert exported.exit_code == 0, exported.output
    assert exported.stdout == "org 1 (2 clients) written to exported.yaml\n"
    text = (workdir / "exported.yaml").read_text()
    assert secret not in text
    assert "kl1$" not in text  # nor any secret's hash
    assert "clientKey" not in text
    to_stdout = initialised("export", "--org", "1")
    assert to_stdout.stdout == text
    since = _last_audit_id(workdir)
    before = _state(workdir)
    report = as_json(initialised("apply", "-f", "exported.yaml", "--json"))
    assert report["summary"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 8}
    assert _state(workdir) == before
    assert _last_audit_id(workdir) == since


def test_export_of_an_unknown_org_fails(initialised: Invoke) -> None:
    result = initialised("export", "--org", "7")
    assert result.exit_code == 1
    assert "No org with id 7." in result.stderr


def test_the_schema_command_prints_the_shipped_schema(initialised: Invoke) -> None:
    from keyloft.manifest.schema import shipped_schema

    result = initialised("schema")
    assert result.exit_code == 0
    assert result.stdout == shipped_schema()


# Each: what to change in ACME, and the line and field the refusal must name.
ERRORS = {
    "bad type": (
        ("expirationTokenTime: 600", "expirationTokenTime: ten"),
        11,
        "orgs[0].clients[0].expirationTokenTime",
        "Input should be a valid integer",
    ),
    "unknown key": (
        (
            "        defaultTill: acme.till.1\n        scopes:\n          - entity: All",
            "        defaultTill: acme.till.1\n        secret: hunter2\n        scopes:\n"
            "          - entity: All",
        ),
        20,
        "orgs[0].clients[1].secret",
        "unknown key 'secret'",
    ),
    "duplicate key": (
        ("    maxClients: 20\n", "    maxClients: 20\n    maxClients: 30\n"),
        5,
        "orgs[0].maxClients",
        "duplicate key 'maxClients' (first on line 4)",
    ),
    "unknown Till": (
        (
            "expirationTokenTime: 3600\n        defaultTill: acme.till.1",
            "expirationTokenTime: 3600\n        defaultTill: acme.till.9",
        ),
        19,
        "orgs[0].clients[1].defaultTill",
        "no Till 'acme.till.9' in org 'Acme'",
    ),
    "unknown entity": (
        ("entity: TargetGroups", "entity: Coupons"),
        14,
        "orgs[0].clients[0].scopes[0].entity",
        "no scope entity 'Coupons' in org 'Acme'",
    ),
    "limit": (
        ("maxClients: 20", "maxClients: 1"),
        17,
        "orgs[0].clients[1]",
        "org 'Acme' allows 1 active API clients (maxClients); this file would make 2",
    ),
    "token lifetime": (
        ("expirationTokenTime: 3600", "expirationTokenTime: 7200"),
        18,
        "orgs[0].clients[1].expirationTokenTime",
        "expirationTokenTime must be between 1 and 3600 seconds.",
    ),
    "invalid JWKS": (
        ("permission: READ\n", "permission: READ\n        jwks: {keys: [{kty: EC, crv: P-256}]}\n"),
        23,
        "orgs[0].clients[1].jwks.keys[0].x",
        'jwks.keys[0] needs the member "x"',
    ),
    "YAML syntax": (
        ("resources: ['.*v3/targetGroups.*']", "resources: ['.*v3/targetGroups.*'"),
        17,
        "",
        "YAML syntax:",
    ),
    "bad pattern": (
        ("'.*v3/targetGroups.*'", "'(unclosed'"),
        16,
        "orgs[0].clients[0].scopes[0].resources[0]",
        "scopes[0].resources[0] is not a valid RE2 pattern",
    ),
}


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_a_file_with_a_problem_names_file_line_and_field_and_changes_nothing(
    initialised: Invoke, workdir: Path, case: str
) -> None:
    (old, new), line, field, message = ERRORS[case]
    assert old in ACME
    _write(workdir, ACME.replace(old, new, 1))
    before = _state(workdir)
    result = _refused(initialised)
    where = f"{field}: " if field else ""
    assert f"error: {FILE}:{line}: {where}{message}" in result.stderr, result.stderr
    assert "nothing was changed" in result.stderr
    assert _state(workdir) == before
    report = json.loads(_refused(initialised, "--json").stdout)
    assert report["file"] == FILE
    assert (report["errors"][0]["line"], report["errors"][0]["field"]) == (line, field)


def test_a_refusal_found_only_by_carrying_out_the_plan_still_changes_nothing(
    initialised: Invoke, workdir: Path
) -> None:
    """The second org's Till code breaks a rule only the Till use case checks: the rehearsal
    finds it, and the first org, which is fine, is not created either."""
    bad = """\
  - name: Globex
    tills: [{code: 'globex till'}]
"""
    _write(workdir, ACME + bad)
    before = _state(workdir)
    result = _refused(initialised)
    assert (
        f"error: {FILE}:24: orgs[1].tills[0].code: code may not contain ':', spaces or "
        "control characters." in result.stderr
    )
    assert _state(workdir) == before
    dry = _refused(initialised, "--dry-run")
    assert "orgs[1].tills[0].code" in dry.stderr


def test_a_refusal_in_the_only_org_s_transaction_rolls_all_of_it_back(
    initialised: Invoke, workdir: Path
) -> None:
    """One org to change needs no rehearsal: its one transaction is all or nothing, and the
    refusal reads as any other problem of the file."""
    text = ACME.replace(
        "        name: Acme Till 1\n", "        name: Acme Till 1\n      - code: 'acme till'\n"
    )
    _write(workdir, text)
    before = _state(workdir)
    result = _refused(initialised)
    assert (
        f"error: {FILE}:8: orgs[0].tills[1].code: code may not contain ':', spaces or "
        "control characters." in result.stderr
    )
    assert "nothing was changed" in result.stderr
    assert _state(workdir) == before


def test_several_problems_are_reported_together(initialised: Invoke, workdir: Path) -> None:
    text = ACME.replace(
        "defaultTill: acme.till.1\n        scopes:\n          - entity: All",
        "defaultTill: nope\n        scopes:\n          - entity: Nope",
    )
    _write(workdir, text)
    result = _refused(initialised)
    assert f"{FILE}:19: orgs[0].clients[1].defaultTill" in result.stderr
    assert f"{FILE}:21: orgs[0].clients[1].scopes[0].entity" in result.stderr
    assert f"error: {FILE}: 2 problems; nothing was changed." in result.stderr


def test_names_twice_in_one_file_are_refused(initialised: Invoke, workdir: Path) -> None:
    text = ACME.replace("      - name: billing", "      - name: orders-sync")
    _write(workdir, text)
    result = _refused(initialised)
    assert (
        f"error: {FILE}:17: orgs[0].clients[1].name: client 'orders-sync' is declared twice "
        "(also at orgs[0].clients[0].name)" in result.stderr
    )


def test_what_apply_cannot_change_is_refused(initialised: Invoke, workdir: Path) -> None:
    with_entity = ACME.replace(
        "    tills:\n",
        "    scopeEntities:\n      - {name: Coupons, pattern: '.*/coupons.*'}\n    tills:\n",
    )
    _write(workdir, with_entity)
    _apply(initialised)
    renamed = with_entity.replace("name: Acme Till 1", "name: Front desk").replace(
        "'.*/coupons.*'", "'.*/vouchers.*'"
    )
    _write(workdir, renamed)
    result = _refused(initialised)
    assert (
        f"{FILE}:6: orgs[0].scopeEntities[0].pattern: the scope entity 'Coupons' exists with "
        "the pattern '.*/coupons.*'; an entity's pattern cannot be changed" in result.stderr
    )
    assert (
        f"{FILE}:9: orgs[0].tills[0].name: the Till 'acme.till.1' is named 'Acme Till 1'; "
        "apply does not rename Tills" in result.stderr
    )


def test_an_unreadable_file_is_named(initialised: Invoke) -> None:
    result = initialised("apply", "-f", "missing.yaml")
    assert result.exit_code == 1
    assert "error: missing.yaml:1: cannot read the file" in result.stderr


def test_apply_needs_an_initialised_database(keyloft: Invoke, workdir: Path) -> None:
    _write(workdir, ACME)
    result = keyloft("apply", "-f", FILE)
    assert result.exit_code == 1
    assert "Run `keyloft init`" in result.stderr


TLS_CLIENT = """\
      - name: mtls-partner
        expirationTokenTime: 600
        defaultTill: acme.till.1
        scopes: [{entity: All, permission: READ}]
        tokenEndpointAuthMethod: tls_client_auth
        tlsClientAuthSubjectDn: CN=partner,O=Acme,C=DE
"""


def test_tls_client_auth_is_refused_where_the_api_refuses_it(
    initialised: Invoke, workdir: Path
) -> None:
    """Without a CA for client certificates the API refuses tls_client_auth: so does apply."""
    _write(workdir, ACME + TLS_CLIENT)
    before = _state(workdir)
    result = _refused(initialised)
    assert f"error: {FILE}:27: orgs[0].clients[2].tokenEndpointAuthMethod: " in result.stderr
    assert "trusts no CA for client certificates" in result.stderr
    assert _state(workdir) == before


def test_a_tls_client_auth_client_applies_and_exports_with_its_certificate_name(
    initialised: Invoke, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.certificates import CertificateAuthority

    ca = CertificateAuthority(workdir, "client-ca")
    monkeypatch.setenv("KEYLOFT_CLIENT_CA_CERTS", str(ca.certfile))
    _write(workdir, ACME + TLS_CLIENT)
    made = as_json(initialised("apply", "-f", FILE, "--json"))
    assert made["orgs"][0]["clients"]["mtls-partner"]["clientSecret"] is None
    change = next(c for c in made["orgs"][0]["changes"] if c["name"] == "mtls-partner")
    assert change["fields"]["tlsClientAuthSubjectDn"] == [None, "CN=partner,O=Acme,C=DE"]
    exported = initialised("export", "--org", "1")
    assert "tlsClientAuthSubjectDn: CN=partner,O=Acme,C=DE" in exported.stdout
    _write(
        workdir,
        ACME
        + TLS_CLIENT.replace(
            "tlsClientAuthSubjectDn: CN=partner,O=Acme,C=DE", "tlsClientAuthSanDns: partner.example"
        ),
    )
    result = _apply(initialised)
    assert '  ~ update client "mtls-partner"' in result.stdout
    assert '      tlsClientAuthSubjectDn: "CN=partner,O=Acme,C=DE" -> null' in result.stdout
    assert '      tlsClientAuthSanDns: null -> "partner.example"' in result.stdout


def test_a_disabled_till_cannot_be_given_to_a_client_but_keeps_its_clients(
    initialised: Invoke, workdir: Path
) -> None:
    _write(workdir, ACME)
    _apply(initialised)
    disabled = initialised("till", "disable", "--org", "1", "--code", "acme.till.1")
    assert disabled.exit_code == 0, disabled.output
    report = as_json(initialised("apply", "-f", FILE, "--json"))  # unchanged: still fine
    assert report["summary"]["update"] == 0
    _write(workdir, ACME.replace("expirationTokenTime: 3600", "expirationTokenTime: 60"))
    result = _refused(initialised)
    assert (
        f"error: {FILE}:19: orgs[0].clients[1].defaultTill: the Till 'acme.till.1' is disabled"
        in result.stderr
    )


def test_a_self_signed_tls_client_round_trips_with_its_certificate(
    initialised: Invoke, workdir: Path
) -> None:
    from tests.support.certificates import self_signed

    certificate = self_signed(workdir, "partner-cert")
    text = ACME + (
        "        tokenEndpointAuthMethod: self_signed_tls_client_auth\n"
        "        tlsClientCertificateBoundAccessTokens: true\n"
        f"        jwks: {json.dumps({'keys': [certificate.jwk]})}\n"
    )
    _write(workdir, text)
    made = as_json(initialised("apply", "-f", FILE, "--json"))
    change = next(c for c in made["orgs"][0]["changes"] if c["name"] == "billing")
    (shown,) = change["fields"]["jwks"][1]
    assert shown.startswith(f"{thumbprint(certificate.jwk)} x5c=")
    assert change["fields"]["tlsClientCertificateBoundAccessTokens"] == [None, True]
    exported = initialised("export", "--org", "1", "-o", "exported.yaml")
    assert exported.exit_code == 0, exported.output
    before = _state(workdir)
    again = as_json(initialised("apply", "-f", "exported.yaml", "--json"))
    assert again["summary"]["update"] == again["summary"]["create"] == 0
    assert _state(workdir) == before


def test_what_was_allowed_when_written_stays_unchanged_but_no_change_may_rely_on_it(
    initialised: Invoke, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An org above a since lowered deployment ceiling, a client with an http:// key set URL
    written while development allowed it: a file that leaves them as they are applies
    unchanged; one that changes them is held to today's rules."""
    monkeypatch.setenv("KEYLOFT_FEDERATION_ALLOW_HTTP", "true")
    text = ACME.replace("    maxClients: 20\n", "    maxClients: 20\n    maxTokenTtl: 7200\n") + (
        "        tokenEndpointAuthMethod: private_key_jwt\n"
        "        jwksUri: http://keys.internal/jwks.json\n"
    )
    _write(workdir, text)
    _apply(initialised)
    monkeypatch.delenv("KEYLOFT_FEDERATION_ALLOW_HTTP")
    monkeypatch.setenv("KEYLOFT_TOKEN_TTL_CEILING", "3600")
    before = _state(workdir)
    report = as_json(initialised("apply", "-f", FILE, "--json"))
    assert report["summary"]["update"] == 0
    assert _state(workdir) == before
    _write(workdir, text.replace("expirationTokenTime: 3600", "expirationTokenTime: 60"))
    refused = _refused(initialised)
    assert f"{FILE}:25: orgs[0].clients[1].jwksUri: jwksUri must be an https URL" in (
        refused.stderr
    )
    _write(workdir, text.replace("maxTokenTtl: 7200", "maxTokenTtl: 7000"))
    refused = _refused(initialised)
    assert f"{FILE}:5: orgs[0].maxTokenTtl: max token TTL must be between 1 and 3600" in (
        refused.stderr
    )
    assert _state(workdir) == before
