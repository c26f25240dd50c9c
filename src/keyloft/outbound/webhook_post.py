"""Posting webhook messages behind the same guard as every outbound fetch: the URL's host
resolved once, every address checked (https and public only unless ``allow_http``), the
connection made to the checked address, redirects refused, the whole exchange timed out.
Implements the ``WebhookSender`` port; the receiver's answer body is never read beyond its
status."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from keyloft.outbound.addresses import IPAddress
from keyloft.outbound.fetch import FetchPolicy, JsonFetcher, _refuse, _Target, _where, log
from keyloft.services.ports import RemoteFetchFailed

WEBHOOK_POLICY = FetchPolicy(connect_timeout=5.0, read_timeout=10.0, total_timeout=10.0)


def webhook_policy(*, allow_http: bool) -> FetchPolicy:
    return FetchPolicy(
        allow_http=allow_http,
        connect_timeout=WEBHOOK_POLICY.connect_timeout,
        read_timeout=WEBHOOK_POLICY.read_timeout,
        total_timeout=WEBHOOK_POLICY.total_timeout,
    )


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
        failure = RemoteFetchFailed("connect", "no address to connect to")
        for address in addresses:
            try:
                return await self._post_to(target, address, body, headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                reason = "timeout" if isinstance(exc, httpx.ConnectTimeout) else "connect"
                failure = RemoteFetchFailed(reason, f"{address}: {exc}")
        raise failure

    async def _post_to(
        self, target: _Target, address: IPAddress, body: bytes, headers: Mapping[str, str]
    ) -> int:
        url = target.url
        extensions: dict[str, object] = {}
        if target.literal is None:
            url = url.copy_with(host=str(address))
            if url.scheme == "https":
                extensions["sni_hostname"] = target.host
        request = self._client.build_request(
            "POST",
            url,
            content=body,
            headers={**headers, "Host": target.url.netloc.decode("ascii")},
            extensions=extensions,
        )
        try:
            response = await self._client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise
        except httpx.TimeoutException as exc:
            _refuse("timeout", str(exc))
        except httpx.TransportError as exc:
            _refuse("connect", str(exc))
        await response.aclose()
        status = response.status_code
        if 300 <= status < 400:
            _refuse("redirect", f"HTTP {status}; redirects are not followed")
        return status
