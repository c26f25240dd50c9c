"""A verified Basic login is cached: argon2 is paid once per login, never for a wrong one."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from keyloft.domain import passwords
from keyloft.services import callers
from tests.support.api import OrgFixture, basic

SCOPES = "/v3/integrations/scopes"


class CountingVerify:
    """Wraps the real ``verify_password`` and counts its calls."""

    def __init__(self, real: Callable[[str, str], bool]) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, stored_hash: str, presented: str) -> bool:
        self.calls += 1
        return self.real(stored_hash, presented)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingVerify:
    counter = CountingVerify(passwords.verify_password)
    monkeypatch.setattr(callers, "verify_password", counter)
    return counter


async def test_repeated_logins_verify_once(
    http: httpx.AsyncClient, org: OrgFixture, counting: CountingVerify
) -> None:
    for _ in range(5):
        response = await http.get(SCOPES, headers=org.auth)
        assert response.status_code == 200, response.text
    assert counting.calls == 1


async def test_each_login_is_cached_separately(
    http: httpx.AsyncClient, org: OrgFixture, counting: CountingVerify
) -> None:
    till = org.tills[0]
    for _ in range(3):
        assert (await http.get(SCOPES, headers=org.auth)).status_code == 200
        assert (await http.get(SCOPES, headers=till.headers)).status_code == 200
    assert counting.calls == 2


async def test_wrong_password_is_never_cached(
    http: httpx.AsyncClient, org: OrgFixture, counting: CountingVerify
) -> None:
    wrong = basic(org.admin.code, "not-the-password")
    for attempt in range(1, 5):
        response = await http.get(SCOPES, headers=wrong)
        assert response.status_code == 401
        assert counting.calls == attempt


async def test_cached_login_does_not_admit_a_wrong_password(
    http: httpx.AsyncClient, org: OrgFixture, counting: CountingVerify
) -> None:
    assert (await http.get(SCOPES, headers=org.auth)).status_code == 200
    wrong = await http.get(SCOPES, headers=basic(org.admin.code, org.admin.password + "x"))
    assert wrong.status_code == 401
    assert counting.calls == 2
    assert (await http.get(SCOPES, headers=org.auth)).status_code == 200
    assert counting.calls == 2
