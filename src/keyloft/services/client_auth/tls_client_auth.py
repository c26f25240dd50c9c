"""``tls_client_auth`` (RFC 8705 §2.1, PKI mutual TLS): the client proves itself by a TLS
certificate that chains to a CA the deployment trusts (``KEYLOFT_CLIENT_CA_CERTS``), at the
node's time, and carries the one name the client registered (its subject DN, or a
subjectAltName DNS name, URI, IP address or email address).

The request (a certificate, the client named, no other credential) is read by the mutual TLS
entry of the registry (``certificate``), which calls ``check`` for a client registered with
this method. Refusal reasons, logged and counted, never told: ``ca`` (the deployment trusts no
CA), ``chain`` (not issued by a trusted CA, outside its validity, or not a client
certificate), ``subject`` (it does not carry the registered name).
"""

from __future__ import annotations

import logging

from keyloft.domain.certificate_trust import UntrustedCertificate
from keyloft.domain.certificates import ClientCertificate
from keyloft.domain.clients import Client
from keyloft.services.client_auth.assertion import refuse
from keyloft.services.node import Node

log = logging.getLogger("keyloft.client_auth")


def check(certificate: ClientCertificate, client: Client, node: Node) -> str:
    """The credential that proved ``client`` (``certificate:<x5t#S256>``); ``AssertionRefused``
    otherwise."""
    client_key = client.client_key
    trust, name = node.client_trust, client.credentials.tls_name
    if trust is None:
        raise refuse("ca", client_key)
    if name is None:  # never stored so; refused rather than trusted
        raise refuse("no_name", client_key)
    parsed = certificate.parsed()
    try:
        trust.verify(parsed, node.clock.now())
    except UntrustedCertificate as untrusted:
        log.info(
            "client certificate not trusted",
            extra={"client_id": client_key, "detail": str(untrusted)},
        )
        raise refuse("chain", client_key) from None
    if not name.matches(parsed):
        raise refuse("subject", client_key)
    return f"certificate:{certificate.x5t_s256}"
