"""The console's one router: signing in and out, the pages about an org's API clients, the
forms that change them and their credentials, and an admin's own password."""

from __future__ import annotations

from fastapi import APIRouter

from keyloft.web.console import (
    account,
    client_changes,
    client_pages,
    credential_changes,
    governance,
    sign_in,
    usage_pages,
)

router = APIRouter()
router.include_router(sign_in.router)
router.include_router(client_pages.router)
router.include_router(client_changes.router)
router.include_router(credential_changes.router)
router.include_router(governance.router)
router.include_router(account.router)
router.include_router(usage_pages.router)
