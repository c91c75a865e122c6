"""Entry point of the ``eksd-adopt`` command: the table of commands, each imported only when invoked."""

from __future__ import annotations

import typer

from eksd_adopt.cli.lazy import LazyCommand, freeze_imports, lazy_group

# name -> (module, attribute, the first paragraph of its help), in the order `--help` lists them.
# Importing this module imports typer alone: a command's module (and pydantic, urllib3, rich, boto3
# where it needs them) loads when that command runs (tests/unit/cli/test_startup.py).
COMMANDS = {
    "validate": LazyCommand(
        "eksd_adopt.cli.release",
        "validate",
        "Validate a release manifest. Exit 0 valid, 1 invalid (every problem listed), 2 usage or I/O error.",
    ),
    "plan": LazyCommand(
        "eksd_adopt.cli.release",
        "plan",
        "Show the copy jobs adopting a release would run (images to ECR, archives to S3).",
    ),
    "adopt": LazyCommand(
        "eksd_adopt.cli.adopt",
        "adopt",
        "Start the adoption of one release, exactly as a notification would (one execution per release).",
    ),
    "status": LazyCommand("eksd_adopt.cli.adopt", "status", "Show the release ledger, newest release first."),
    "approve": LazyCommand(
        "eksd_adopt.cli.approvals", "approve", "Approve a release for a stage (counts once per approver)."
    ),
    "reject": LazyCommand(
        "eksd_adopt.cli.approvals", "reject", "Reject a release for a stage: the adoption ends as rejected."
    ),
    "rollback": LazyCommand(
        "eksd_adopt.cli.approvals", "rollback", "Point a stage back at an earlier release it had promoted."
    ),
    "subscribe": LazyCommand(
        "eksd_adopt.cli.subscriptions",
        "subscribe",
        "Subscribe an endpoint to release events, filtered by channel, event type, stage and Kubernetes minor.",
    ),
    "subscriptions": LazyCommand(
        "eksd_adopt.cli.subscriptions",
        "subscriptions",
        "List the subscriptions to the release-events topic (yours only, unless you own the topic).",
    ),
    "unsubscribe": LazyCommand(
        "eksd_adopt.cli.subscriptions", "unsubscribe", "Remove one subscription from the release-events topic."
    ),
    "verify": LazyCommand(
        "eksd_adopt.cli.verify",
        "verify",
        "Verify a stage's release: its signed record, then every image and archive the record names.",
    ),
    "demo": LazyCommand(
        "eksd_adopt.cli.demo",
        "demo_app",
        "Adopt an EKS-D-shaped release end to end on local services (their files: a working folder under"
        " $TMPDIR, printed at start); `publish` and `env` reach a demo left running.",
    ),
    "notification": LazyCommand("eksd_adopt.cli.notification", "notification_app", "Upstream SNS notifications."),
    "mirror": LazyCommand("eksd_adopt.cli.mirror", "mirror_app", "Mirror a release's artifacts into private storage."),
    "approvals": LazyCommand(
        "eksd_adopt.cli.approvals", "approvals_app", "Release approval gates awaiting a decision."
    ),
}

app = typer.Typer(
    name="eksd-adopt",
    help="Adopt Amazon EKS Distro releases: validate, mirror, verify, approve, promote.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help, not typer's rich panels: rendering those imports rich's markdown, table and
    # traceback modules, about 0.1 s, more than the rest of `eksd-adopt --help` (docs/benchmarks.md).
    rich_markup_mode=None,
    cls=lazy_group(COMMANDS),
)


@app.callback()
def _root() -> None:
    # A callback makes typer build a group although no command is registered with it: the table is the group.
    pass


def main() -> None:
    freeze_imports()
    app()
