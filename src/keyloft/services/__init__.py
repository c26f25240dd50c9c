"""Use cases of Keyloft. Services never commit: whoever owns the request owns the transaction."""
