"""The one workflow every issue follows, so a status can only change along allowed edges."""

from __future__ import annotations

from typing import Final, Literal

from tenantry.platform.errors import ApiError

Status = Literal["To Do", "In Progress", "Done"]

INITIAL_STATUS: Final[Status] = "To Do"

TRANSITIONS: Final[frozenset[tuple[str, str]]] = frozenset(
    {
        ("To Do", "In Progress"),
        ("In Progress", "Done"),
        ("In Progress", "To Do"),
        ("Done", "In Progress"),
    }
)


def check_transition(current: str, target: str) -> None:
    """Allow staying put and the workflow's edges; refuse any other change with a 409."""
    if current == target or (current, target) in TRANSITIONS:
        return
    raise ApiError(
        409,
        "transition_not_allowed",
        f"an issue cannot move from {current!r} to {target!r}",
    )
