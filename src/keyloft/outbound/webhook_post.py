"""Posting webhook messages behind the same guard as every outbound fetch: the URL's host
resolved once, every address checked (https and public only unless ``allow_http``), the
connection made to the checked address, redirects refused, the whole exchange timed out.
Implements the ``WebhookSender`` port; the receiver's answer body is never read beyond its
status."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from keyloft.outbound.addresses import IPAddress
from keyloft.outbound.fetch import FetchPolicy, JsonFetcher, _refuse, _Target, _where, log
from keyloft.services.ports import RemoteFetchFailed

WEBHOOK_POLICY = FetchPolicy(connect_timeout=5.0, read_timeout=10.0, total_timeout=10.0)


def webhook_policy(*, allow_http: bool) -> FetchPolicy:
    return dataclasses.replace(WEBHOOK_POLICY, allow_http=allow_http)


class WebhookPoster(JsonFetcher):
    """A ``JsonFetcher`` that also posts: one request per attempt, its status the answer."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            target = self._target(url)
            try:
                async with asyncio.timeout(self.policy.total_timeout):
                    addresses = await self._addresses(target)
                    return await self._post_any(target, addresses, body, headers)
            except TimeoutError:
                _refuse("timeout", f"no answer within {self.policy.total_timeout} s")
        except RemoteFetchFailed as failed:
            log.info("webhook post to %s failed: %s", _where(url), failed)
            raise

    async def _post_any(
        self,
        target: _Target,
        addresses: list[IPAddress],
        body: bytes,
        headers: Mapping[str, str],
    ) -> int:
        return await self._first_answer(
            addresses, lambda address: self._post_to(target, address, body, headers)
        )

    async def _post_to(
        self, target: _Target, address: IPAddress, body: bytes, headers: Mapping[str, str]
    ) -> int:
        response = await self._send(target, address, "POST", content=body, headers=headers)
        await response.aclose()
        status = response.status_code
        if 300 <= status < 400:
            _refuse("redirect", f"HTTP {status}; redirects are not followed")
        return status
