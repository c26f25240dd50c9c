"""The manifest: a YAML file that declares orgs with their scope entities, Tills and API
clients, which ``keyloft apply`` makes true and ``keyloft export`` writes.

``model`` is its one definition (a Pydantic model, from which ``schema`` derives the JSON
Schema editors validate with); ``source`` reads a file into it, keeping each value's line for
error messages (``problems``); ``render`` writes one. This package imports only ``domain``:
the use cases that plan and apply a manifest live in ``keyloft.services``.
"""
