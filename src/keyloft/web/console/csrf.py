"""Cross-site request forgery defences for the console's forms.

Every POST must (1) come from this site, judged by ``Sec-Fetch-Site`` and ``Origin`` when the
browser sends them, and (2) carry the synchronizer token of its session: an HMAC of the
session's nonce under the console key, so it cannot be computed elsewhere and dies with the
session. The sign-in form has no session yet; its token is bound to a random nonce kept in a
short-lived pre-session cookie instead, which stops forged sign-ins as well.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

FIELD = "csrf_token"
SESSION_PURPOSE = "csrf"
SIGN_IN_PURPOSE = "csrf-sign-in"
_SAME_SITE = frozenset({"same-origin", "none"})


def same_site(request: Request) -> bool:
    """False when the browser says the request came from another site.

    ``Sec-Fetch-Site`` is decisive where the browser sends it; older browsers are judged by
    ``Origin`` against the ``Host`` they addressed."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.lower() in _SAME_SITE
    origin = request.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


def token_ok(offered: str | None, expected: str) -> bool:
    return offered is not None and hmac.compare_digest(offered.encode(), expected.encode())
