"""``python -m keyloft``: the same as the ``keyloft`` command."""

from keyloft.cli.main import main

main()
