"""Who signed a decision, as an approval counts it: an IAM user, a role, or a session of a role whose sessions are people.

A function URL with AWS_IAM auth passes the signer's ARN. For an assumed role that ARN is
``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`` and the *caller* picks SESSION when it calls
``sts:AssumeRole``: one person can hold any number of sessions with any names. So a session counts
as its role unless the stage rule says that role's sessions are distinct people (an IAM Identity
Center permission-set role, or a role whose trust policy pins the session name to the caller's
identity: see docs/approvals.md, "Who counts as an approver").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# IAM names: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html ("Names of IAM
# entities": alphanumerics and +=,.@-_ ; role and user names up to 64, session names 2 to 64).
_PARTITION = r"aws(?:-[a-z]+)*"
_ACCOUNT = r"[0-9]{12}"
_NAME = r"[A-Za-z0-9+=,.@_-]{1,64}"
_PATH = r"(?:[!-.0-~]+/)*"  # a path: segments of printable ASCII but "/"
_SESSION = r"[A-Za-z0-9+=,.@_-]{2,64}"
ROLE_ARN = re.compile(rf"arn:({_PARTITION}):iam::({_ACCOUNT}):role/{_PATH}({_NAME})", re.ASCII)
USER_ARN = re.compile(rf"arn:({_PARTITION}):iam::({_ACCOUNT}):user/{_PATH}({_NAME})", re.ASCII)
SESSION_ARN = re.compile(rf"arn:({_PARTITION}):sts::({_ACCOUNT}):assumed-role/({_NAME})/({_SESSION})", re.ASCII)
# sts:GetFederationToken: the calling IAM user names the federated user, so a name proves nothing either.
FEDERATED_ARN = re.compile(rf"arn:({_PARTITION}):sts::({_ACCOUNT}):federated-user/({_NAME})", re.ASCII)


@dataclass(frozen=True)
class RoleName:
    """A role as a session ARN names it: partition, account and name (the path is not in a session ARN)."""

    partition: str
    account: str
    name: str

    @property
    def arn(self) -> str:
        """The role's ARN without its path: what a vote of any of its sessions counts as."""
        return f"arn:{self.partition}:iam::{self.account}:role/{self.name}"


def role_of_session(arn: str) -> RoleName | None:
    """The role of an assumed-role session ARN; None for any other principal."""
    match = SESSION_ARN.fullmatch(arn)
    return RoleName(*match.groups()[:3]) if match else None


def role_of_role_arn(arn: str) -> RoleName | None:
    match = ROLE_ARN.fullmatch(arn)
    return RoleName(*match.groups()) if match else None


def is_role_arn(arn: str) -> bool:
    return ROLE_ARN.fullmatch(arn) is not None


def principal_matches(caller_arn: str, allowed: str) -> bool:
    """An approver entry admits the signed caller: the same ARN, or any session of an allowed role.

    ``arn:aws:iam::111:role/Approvers`` (any path) admits ``arn:aws:sts::111:assumed-role/Approvers/alice``.
    """
    if caller_arn == allowed:
        return True
    role, session_role = role_of_role_arn(allowed), role_of_session(caller_arn)
    return role is not None and role == session_role


def counted_as(caller_arn: str, distinct_session_roles: tuple[str, ...]) -> str:
    """Whom a decision of ``caller_arn`` counts for: a session of a role counts as the role (ARN without
    path) unless that role is in ``distinct_session_roles``; users and every other principal count as themselves.
    """
    role = role_of_session(caller_arn)
    if role is None:
        return caller_arn
    if any(role_of_role_arn(r) == role for r in distinct_session_roles):
        return caller_arn
    return role.arn


__all__ = ["RoleName", "counted_as", "is_role_arn", "principal_matches", "role_of_role_arn", "role_of_session"]
