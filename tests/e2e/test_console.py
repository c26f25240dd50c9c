"""The console end to end in Chromium: sign in, create a client and copy its secret, mint a
token with it over the API, change its access, rotate its secret, require DPoP-bound tokens,
delete it; create a client without a secret (private_key_jwt) and with DPoP-bound tokens from a
pasted public key, mint with a signed assertion and a DPoP proof and trust another issuer's
tokens; a wrong password and a form post without its token are refused;
the sign-in form works from the keyboard. Each page is photographed (see conftest.py for where
the pictures go)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.credentials import EcKey, assertion_form, dpop_proof, rfc7638
from tests.integration.nodes import Deployment
from tests.support.browser import PHONE, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def sign_in(page: Any, server: Deployment, password: str | None = None) -> None:
    username, real = server.admin
    page.goto("/console/sign-in")
    page.get_by_label("Username or Till code").fill(username)
    page.get_by_label("Password").fill(real if password is None else password)
    page.get_by_role("button", name="Sign in").click()


def api(server: Deployment) -> httpx.Client:
    return httpx.Client(base_url=server.nodes[0].url, auth=server.admin, timeout=10)


def mint(server: Deployment, key: str, secret: str) -> int:
    answer = httpx.post(
        f"{server.nodes[0].url}/v3/oauth/token/generate",
        json={"key": key, "secret": secret},
        timeout=10,
    )
    return answer.status_code


def flag(server: Deployment, key: str) -> bool:
    with api(server) as http:
        bound: bool = http.get(f"/v3/integrations/clients/{key}").json()["data"][
            "dpopBoundAccessTokens"
        ]
    return bound


def fill_client_fields(page: Any, name: str) -> None:
    """The new-client form's fields but for how the client proves itself."""
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Description").fill("Nightly order export")
    page.get_by_label("Token lifetime (seconds)").fill("600")
    tills = page.get_by_label("Default Till")
    tills.select_option(tills.locator("option", has_text="Front desk").get_attribute("value"))
    page.get_by_role("group", name="TargetGroups").get_by_label("Read & write").check()
    page.get_by_label("TargetGroups resource patterns").fill(".*v3/targetGroups.*")
    page.get_by_role("group", name="All", exact=True).get_by_label("Read", exact=True).check()


def create_client(page: Any, server: Deployment, name: str) -> tuple[str, str]:
    page.goto("/console/clients/new")
    fill_client_fields(page, name)
    page.get_by_role("button", name="Create client").click()
    page.get_by_role("heading", name=f"Client created: {name}").wait_for()
    return page.locator("#client-key").inner_text(), page.locator("#client-secret").input_value()


def test_an_admin_manages_a_client_from_sign_in_to_delete(
    page: Any, server: Deployment, screenshots: Path
) -> None:
    page.goto("/console/sign-in")
    screenshot(page, screenshots, "sign-in")
    sign_in(page, server)
    page.get_by_role("heading", name="API clients").wait_for()

    page.goto("/console/clients/new")
    # The default-Till choices are the org's two Tills.
    choices = page.locator("#defaultTillId option").all_inner_texts()
    assert len(choices) == 3
    assert choices[0] == "Choose a Till"
    assert choices[1].endswith(f"(#{server.till_id})")
    assert choices[2].startswith("Front desk (front-desk, #")
    screenshot(page, screenshots, "create", full_page=True)
    name = f"orders-sync-{secrets.token_hex(3)}"
    key, secret = create_client(page, server, name)
    assert len(secret) >= 32
    page.get_by_role("button", name="Copy secret").click()
    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(
        page, screenshots, "secret-once", mask=[page.locator("#client-secret"), page.locator("pre")]
    )
    assert mint(server, key, secret) == 200

    # The secret is not shown again, anywhere.
    page.goto("/console/clients")
    assert key in page.content()
    assert secret not in page.content()
    other_key, _ = create_client(page, server, f"loyalty-feed-{secrets.token_hex(3)}")
    page.goto("/console/clients")
    # The first has minted a token, the second not yet.
    used = page.locator("#clients tbody tr", has_text=key).locator('[data-label="Last used"]')
    unused = page.locator("#clients tbody tr", has_text=other_key)
    last_used = used.inner_text().strip()
    assert last_used not in ("", "never")
    assert unused.locator('[data-label="Last used"]').inner_text().strip() == "never"
    assert "Front desk" in unused.locator('[data-label="Default Till"]').inner_text()
    screenshot(page, screenshots, "clients")
    page.set_viewport_size(PHONE)
    screenshot(page, screenshots, "clients-phone", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 860})

    # Typing in the filter hides rows without a reload.
    page.get_by_label("Filter").fill(name)
    assert page.locator("#clients tbody tr:not([hidden])").count() == 1

    page.get_by_role("link", name=name).click()
    page.get_by_role("heading", name=name).wait_for()
    assert secret not in page.content()
    assert page.locator("#last-used").inner_text() == last_used

    # Change its access: Transaction gets Read, TargetGroups none.
    page.get_by_role("group", name="Transaction").get_by_label("Read", exact=True).check()
    page.get_by_role("group", name="TargetGroups").get_by_label("None").check()
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Changes saved.").wait_for()
    with api(server) as http:
        scopes = http.get(f"/v3/integrations/clients/{key}").json()["data"]["scopes"]
    assert sorted((s["entityId"], s["permission"]) for s in scopes) == [(2, "READ"), (3, "READ")]
    # The history names the change and its fields, newest first.
    events = page.locator("#history tbody tr")
    assert events.count() == 2
    assert "Changed" in events.nth(0).inner_text()
    assert events.nth(0).locator('[data-label="Fields changed"]').inner_text() == "scopes"
    assert "Created" in events.nth(1).inner_text()
    screenshot(page, screenshots, "client", full_page=True)

    # Rotate: the new secret is shown once and works; the old one stops at once.
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_role("heading", name=f"New secret: {name}").wait_for()
    rotated = page.locator("#client-secret").input_value()
    assert rotated != secret
    assert mint(server, key, rotated) == 200
    assert mint(server, key, secret) == 401

    # Require DPoP-bound tokens: a token request without a proof is refused from now on.
    page.goto(f"/console/clients/{key}")
    assert page.locator("#dpop-bound").inner_text().startswith("no:")
    page.get_by_role("button", name="Require DPoP-bound tokens").click()
    page.get_by_text("Its tokens must now be DPoP-bound").wait_for()
    assert page.locator("#dpop-bound").inner_text().startswith("yes:")
    assert "DPoP: $DPOP_PROOF" in page.locator("#curl").inner_text()
    assert flag(server, key) is True
    assert mint(server, key, rotated) == 400
    events = page.locator("#history tbody tr")
    assert events.nth(0).locator('[data-label="Fields changed"]').inner_text() == (
        "dpopBoundAccessTokens"
    )

    # Delete through the confirmation dialog, which names the client.
    page.goto(f"/console/clients/{key}")
    page.get_by_role("link", name="Delete…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("heading", name=f"Delete “{name}”?").wait_for()
    dialog.get_by_role("button", name=f"Delete {name}").click()
    page.get_by_text("The client was deleted.").wait_for()
    with api(server) as http:
        assert http.get(f"/v3/integrations/clients/{key}").json()["data"]["isValid"] is False
    assert mint(server, key, rotated) == 401

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You have signed out.").wait_for()
    page.goto("/console/clients")
    assert "/console/sign-in" in page.url


def test_an_admin_creates_a_secretless_client_and_trusts_another_issuer(
    page: Any, server: Deployment, screenshots: Path
) -> None:
    signer = EcKey.make(kid="deploy-2026")
    sign_in(page, server)
    page.get_by_role("heading", name="API clients").wait_for()
    page.goto("/console/clients/new")
    # The secretless fields show only once private_key_jwt is chosen.
    public_key = page.get_by_label("Public key (JWK or JWK Set)")
    assert public_key.is_hidden()
    page.get_by_label("private_key_jwt").check()
    assert public_key.is_visible()
    name = f"deploy-bot-{secrets.token_hex(3)}"
    fill_client_fields(page, name)
    public_key.fill(json.dumps(signer.public_jwk, indent=2))
    page.get_by_label("Tokens must be DPoP-bound").check()
    screenshot(page, screenshots, "create-secretless", full_page=True)
    page.get_by_role("button", name="Create client").click()
    page.get_by_role("heading", name=f"Client created: {name}").wait_for()
    assert page.locator("#client-secret").count() == 0
    assert "has no secret" in page.locator("#no-secret").inner_text()
    key = page.locator("#client-key").inner_text()
    assert flag(server, key) is True
    issuer = server.env["KEYLOFT_ISSUER"]
    token_url = f"{issuer}/oauth2/token"
    assert f'"htu": "{token_url}"' in page.locator("#dpop-proof-hint").inner_text()

    page.get_by_role("link", name="Go to the client").click()
    page.get_by_role("heading", name=name).wait_for()
    assert page.locator("#method").inner_text().startswith("private_key_jwt")
    assert page.get_by_role("button", name="Rotate secret").count() == 0
    row = page.locator("#keys tbody tr")
    assert row.count() == 1
    thumbprint = rfc7638(signer.public_jwk)
    assert row.locator('[data-label="Thumbprint"]').inner_text() == thumbprint
    assert row.locator('[data-label="Key id"]').inner_text() == "deploy-2026"

    # Trust the deploy pipeline's tokens: a federated credential, added from its form.
    form = page.locator("form", has=page.get_by_role("button", name="Add federated credential"))
    form.get_by_label("Credential name").fill("github-deploy")
    form.get_by_label("Issuer").fill("https://token.actions.githubusercontent.com")
    form.get_by_label("Subject").fill("repo:octo-org/app:environment:production")
    form.get_by_label("Required claims").fill("repository=octo-org/app\nenvironment=production")
    form.get_by_label("Maximum token age (seconds)").fill("900")
    form.get_by_role("button", name="Add federated credential").click()
    page.get_by_text("The federated credential was added.").wait_for()
    with api(server) as http:
        shown = http.get(f"/v3/integrations/clients/{key}").json()["data"]
    [rule] = shown["federatedCredentials"]
    assert rule["name"] == "github-deploy"
    assert rule["subject"] == "repo:octo-org/app:environment:production"
    assert rule["claims"] == {"environment": "production", "repository": "octo-org/app"}
    assert rule["audiences"] == []
    assert rule["maxAgeSeconds"] == 900
    assert "github-deploy" in page.locator("#rules").inner_text()
    assert f"client_id={key}" in page.locator("#curl-federated").inner_text()

    # The client mints with an assertion signed by its key and a DPoP proof; the page says
    # which key did.
    url = f"{server.nodes[0].url}/oauth2/token"
    unproven = httpx.post(url, data=assertion_form(key, signer, issuer), timeout=10)
    assert unproven.status_code == 400
    assert unproven.json()["error"] == "invalid_dpop_proof"
    proof = {"DPoP": dpop_proof(EcKey.make(), "POST", token_url)}
    minted = httpx.post(url, data=assertion_form(key, signer, issuer), headers=proof, timeout=10)
    assert minted.status_code == 200, minted.text
    assert minted.json()["token_type"] == "DPoP"
    page.reload()
    assert page.locator("#last-credential").inner_text().startswith(f"key {thumbprint}")
    assert row.locator('[data-label="Last used"]').inner_text() != "never"
    history = page.locator("#history tbody tr")
    assert "federatedCredentials" in history.nth(0).inner_text()
    screenshot(page, screenshots, "secretless", full_page=True)


def test_a_wrong_password_is_refused(page: Any, server: Deployment) -> None:
    sign_in(page, server, password="not-the-password")
    error = page.locator("#password-error")
    error.wait_for()
    assert error.inner_text().endswith("Wrong username or password.")
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
    page.goto("/console/clients")
    assert "/console/sign-in" in page.url


def test_a_form_post_without_its_token_is_refused(page: Any, server: Deployment) -> None:
    sign_in(page, server)
    page.get_by_role("heading", name="API clients").wait_for()
    with api(server) as http:
        before = http.get("/v3/integrations/clients?includeInvalid=true").json()["data"]
    # The signed-in browser's own cookies, but no form token: as a forged form would post.
    answer = page.request.post(
        "/console/clients/new",
        form={
            "name": "forged",
            "description": "",
            "expirationTokenTime": "600",
            "defaultTillId": str(server.till_id),
            "access-2": "READWRITE",
        },
        headers={"Origin": server.nodes[0].url},
    )
    assert answer.status == 403
    with api(server) as http:
        after = http.get("/v3/integrations/clients?includeInvalid=true").json()["data"]
    assert after == before


def test_the_sign_in_form_works_from_the_keyboard(page: Any, server: Deployment) -> None:
    username, password = server.admin
    page.goto("/console/sign-in")
    focused = "document.activeElement && document.activeElement.id"
    assert page.evaluate(focused) == "username"  # autofocus
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "password"
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="API clients").wait_for()
    assert page.url.endswith("/console/clients")
