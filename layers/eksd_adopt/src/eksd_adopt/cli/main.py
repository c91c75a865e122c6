"""Entry point of the ``eksd-adopt`` command: composes the command groups."""

from __future__ import annotations

import typer

from eksd_adopt.cli import (
    adopt,
    approvals,
    demo,
    mirror_archives,  # noqa: F401 - registers `mirror archives`
    mirror_images,  # noqa: F401 - registers `mirror images`
    release,
    subscriptions,
    verify,
)
from eksd_adopt.cli.approvals import approvals_app
from eksd_adopt.cli.mirror import mirror_app
from eksd_adopt.cli.notification import notification_app

app = typer.Typer(
    name="eksd-adopt",
    help="Adopt Amazon EKS Distro releases: validate, mirror, verify, approve, promote.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(release.validate)
app.command()(release.plan)
app.add_typer(demo.demo_app, name="demo")
app.command()(adopt.adopt)
app.command()(adopt.status)
app.add_typer(notification_app, name="notification")
app.add_typer(mirror_app, name="mirror")
app.add_typer(approvals_app, name="approvals")
app.command()(approvals.approve)
app.command()(approvals.reject)
app.command()(approvals.rollback)
app.command()(subscriptions.subscribe)
app.command()(subscriptions.subscriptions)
app.command()(subscriptions.unsubscribe)
app.command()(verify.verify)


def main() -> None:
    app()
