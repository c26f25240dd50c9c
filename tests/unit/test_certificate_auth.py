"""The registry's mutual TLS entry (RFC 8705 §2): one entry for tls_client_auth and
self_signed_tls_client_auth, whose requests look alike, choosing by the method the named client
registered; tls_client_auth's chain checked at the node's clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyloft.domain.certificate_names import CertificateName, NameKind
from keyloft.domain.certificate_trust import ClientCertificateTrust
from keyloft.domain.certificates import read_certificate
from keyloft.domain.client_keys import check_jwks
from keyloft.domain.clients import SELF_SIGNED_TLS, TLS_CLIENT_AUTH, Client, ClientCredentials
from keyloft.domain.errors import AssertionRefused
from keyloft.services.client_auth import (
    AuthenticatedClient,
    ClientAuthRequest,
    authenticate,
    method_names,
    select,
)
from tests.support.certificates import CertificateAuthority, Issued, self_signed
from tests.unit.fake_node import World, signing_key, world

SUBJECT = "CN=partner,O=Acme,C=DE"


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority(tmp_path, "ca")


@pytest.fixture
async def acme(ca: CertificateAuthority) -> World:
    found = await world(signing_key())
    found.node.client_trust = ClientCertificateTrust.from_pem(ca.issued.pem)
    return found


async def add(acme: World, key: str, method: str, credentials: ClientCredentials) -> Client:
    return await acme.node.store.clients.add(
        org_id=acme.org.id,
        client_key=key,
        secret_hash=None,
        name=key,
        description="",
        expiration_token_time=600,
        default_till_id=acme.till.id,
        grants=acme.client.grants,
        actor_id=acme.client.created_by.id,
        now=acme.node.clock.now(),
        auth_method=method,
        credentials=credentials,
    )


def request(key: str, certificate: Issued) -> ClientAuthRequest:
    return ClientAuthRequest(
        {"client_id": key}, certificate=read_certificate(certificate.pem.decode())
    )


async def run(
    acme: World, asked: ClientAuthRequest, dialect: str = "oauth2"
) -> AuthenticatedClient:
    async with acme.node.transaction(write=False) as store:
        return await authenticate(asked, dialect, acme.node, store)


async def reason(acme: World, asked: ClientAuthRequest) -> str | None:
    """Why the method itself refused (the registry renames the refusal for the caller)."""
    method = select(asked, "v3")
    async with acme.node.transaction(write=False) as store:
        with pytest.raises(AssertionRefused) as failed:
            await method.authenticate(asked, acme.node, store)
    return failed.value.reason


def test_one_entry_stands_for_both_methods(ca: CertificateAuthority) -> None:
    leaf = ca.issue("leaf")
    for dialect in ("oauth2", "v3"):
        chosen = select(request("any", leaf), dialect)
        assert chosen.names == (TLS_CLIENT_AUTH, SELF_SIGNED_TLS)
        assert [name for name in method_names(dialect) if "tls" in name] == list(chosen.names)


async def test_each_client_is_checked_by_the_method_it_registered(
    acme: World, ca: CertificateAuthority, tmp_path: Path
) -> None:
    leaf = ca.issue("leaf", subject=SUBJECT)
    own = self_signed(tmp_path, "own", subject=SUBJECT)
    await add(
        acme,
        "pki",
        TLS_CLIENT_AUTH,
        ClientCredentials(tls_name=CertificateName(NameKind.SUBJECT_DN, SUBJECT)),
    )
    await add(
        acme, "selfie", SELF_SIGNED_TLS, ClientCredentials(jwks=check_jwks({"keys": [own.jwk]}))
    )

    proved = await run(acme, request("pki", leaf))
    assert (proved.method, proved.credential) == (TLS_CLIENT_AUTH, f"certificate:{leaf.x5t_s256}")
    proved = await run(acme, request("selfie", own), "v3")
    assert proved.method == SELF_SIGNED_TLS
    assert str(proved.credential).startswith("key:")

    # Each one's certificate, for the other: the self-signed one has no trusted issuer, and
    # the CA's is not the registered key.
    assert await reason(acme, request("pki", own)) == "chain"
    assert await reason(acme, request("selfie", leaf)) == "certificate"
    # A secret client is of neither method.
    assert await reason(acme, request(acme.client.client_key, leaf)) == "method"
    assert await reason(acme, request("nobody", leaf)) == "unknown_client"


async def test_the_chain_is_checked_at_the_nodes_clock(
    acme: World, ca: CertificateAuthority
) -> None:
    leaf = ca.issue("leaf", subject=SUBJECT)  # valid for a day from five minutes ago
    await add(
        acme,
        "pki",
        TLS_CLIENT_AUTH,
        ClientCredentials(tls_name=CertificateName(NameKind.SUBJECT_DN, SUBJECT)),
    )
    assert (await run(acme, request("pki", leaf))).method == TLS_CLIENT_AUTH
    acme.node.clock.advance(2 * 24 * 3600)
    assert await reason(acme, request("pki", leaf)) == "chain"


async def test_without_trusted_cas_no_certificate_proves_such_a_client(
    acme: World, ca: CertificateAuthority
) -> None:
    await add(
        acme,
        "pki",
        TLS_CLIENT_AUTH,
        ClientCredentials(tls_name=CertificateName(NameKind.SUBJECT_DN, SUBJECT)),
    )
    acme.node.client_trust = None
    assert await reason(acme, request("pki", ca.issue("leaf", subject=SUBJECT))) == "ca"
