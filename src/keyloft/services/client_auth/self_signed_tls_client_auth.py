"""``self_signed_tls_client_auth`` (RFC 8705 §2.2): the client proves itself by the TLS
certificate it connects with, which it registered in its ``jwks`` (by ``x5c``/``x5t#S256`` or
by its public key). No CA is involved: the registration is the trust.

The request (a certificate, the client named, no other credential) is read by the mutual TLS
entry of the registry (``certificate``), which calls ``check`` for a client registered with
this method."""

from __future__ import annotations

from keyloft.domain.certificates import ClientCertificate, matching_key
from keyloft.domain.clients import Client
from keyloft.services.client_auth.assertion import refuse
from keyloft.services.node import Node


def check(certificate: ClientCertificate, client: Client, node: Node) -> str:
    """The credential that proved ``client`` (``key:<thumbprint>``: the registered key naming
    the certificate); ``AssertionRefused`` otherwise."""
    key = matching_key(certificate, client.credentials.jwks)
    if key is None:
        raise refuse("certificate", client.client_key)
    return f"key:{key.thumbprint}"
