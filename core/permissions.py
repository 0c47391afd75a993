"""Who may do what. Every core function that changes data takes the acting `Actor` and checks it here,
so a page that forgot to hide a button still cannot act beyond its user's role.

A moderator labels, undoes their own labels, reviews predictions one at a time, settles the Check
labels queue and reads the evaluation. An admin may also do everything below that only admins may.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from core.errors import PermissionDenied
from db.models import Role

__all__ = ["Actor", "CLI_ACTOR", "Permission", "Role", "SYSTEM_ACTOR", "require"]


class Permission(str, enum.Enum):
    """An action a role may be allowed; the value completes "Only an admin can …"."""

    label = "label sentences"
    check = "settle the Check labels queue"
    create_project = "create projects"
    edit_project = "change a project's guidelines or content note"
    import_data = "import files"
    export_data = "export a project"
    train = "train models"
    cancel_run = "cancel a training run"
    activate_model = "promote or roll back a model version"
    set_threshold = "set a model's threshold"
    bulk_accept = "accept predictions in bulk"
    manage_users = "manage accounts"
    assign_work = "assign sentences to moderators"
    adjudicate = "adjudicate a disagreement between moderators"
    read_team_stats = "see the team's agreement and per-moderator figures"
    read_audit_log = "read the audit log"
    request_estimate = "ask for an estimate on the stream"


MODERATOR_PERMISSIONS = frozenset({Permission.label, Permission.check})
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.moderator: MODERATOR_PERMISSIONS,
    Role.admin: frozenset(Permission),
}


@dataclass(frozen=True)
class Actor:
    """The person (or the CLI) doing something; its name is recorded with labels and in the audit log."""

    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin


# Whoever runs `python -m core` can already read and write DATA_DIR, so the CLI acts as an admin.
CLI_ACTOR = Actor(name="cli", role=Role.admin)
# The app's own first-start set-up (the demo project), before anybody has an account.
SYSTEM_ACTOR = Actor(name="system", role=Role.admin)


def require(actor: Actor, permission: Permission) -> None:
    if not actor.may(permission):
        raise PermissionDenied(
            f"Only an admin can {permission.value}; you are signed in as {actor.name!r}, a {actor.role.value}."
        )
