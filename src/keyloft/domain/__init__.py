"""Pure rules of Keyloft: no web, storage or framework imports."""
