"""The ``eksd-adopt`` command line (typer + rich)."""
