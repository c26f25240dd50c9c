"""Keyloft: API client accounts, client-credential tokens and scope decisions."""

__version__ = "0.1.0"
