"""``python -m eksd_adopt``: the same as the ``eksd-adopt`` command."""

from eksd_adopt.cli.main import main

main()
