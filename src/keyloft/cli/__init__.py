"""The ``keyloft`` command line."""
