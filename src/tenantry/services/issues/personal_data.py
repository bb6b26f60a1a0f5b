"""The personal data issues keeps: who reported, is assigned, wrote and deleted what, and the
text they wrote (summaries, descriptions, comments). Attachments are media's."""

from __future__ import annotations

from tenantry.platform.personal_data import (
    Holds,
    NoPersonalData,
    OnErase,
    PersonalData,
    PersonalField,
    PersonalTable,
    step_routes,
)

_EXPORT, _ERASE = step_routes("issues")
_IDS = "names tenants and sites only, never people"

PERSONAL_DATA = PersonalData(
    tables=(
        PersonalTable(
            "issues",
            subject="reporter",
            fields=(
                PersonalField("reporter", Holds.ACCOUNT_ID, OnErase.FORMER_USER),
                PersonalField("assignee", Holds.ACCOUNT_ID, OnErase.SCRUB),
                PersonalField("summary", Holds.AUTHORED_TEXT, OnErase.CONTENT),
                PersonalField("description", Holds.AUTHORED_TEXT, OnErase.CONTENT),
            ),
            note="the person is unassigned; with content erased a reported issue keeps its "
            "key, status and others' comments, its summary and description are emptied",
        ),
        PersonalTable(
            "comments",
            subject="author",
            fields=(
                PersonalField("author", Holds.ACCOUNT_ID, OnErase.FORMER_USER),
                PersonalField("body", Holds.AUTHORED_TEXT, OnErase.CONTENT),
            ),
            note="with content erased the comment row goes",
        ),
        PersonalTable(
            "trash_items",
            subject="deleted_by",
            fields=(
                PersonalField("deleted_by", Holds.ACCOUNT_ID, OnErase.FORMER_USER),
                PersonalField("title", Holds.AUTHORED_TEXT, OnErase.CONTENT),
            ),
        ),
    ),
    free=(
        NoPersonalData("projects", "a project's key and name, set by the site"),
        NoPersonalData("issue_labels", "labels of issues"),
        NoPersonalData("attachment_deletions", "media collections still to delete"),
        NoPersonalData("attachment_cleanup_tenants", _IDS),
        NoPersonalData("trash_tenants", _IDS),
    ),
    logs="issue keys and account ids in request lines, never text; logs are appended under "
    "the data directory's logs/ until the operator rotates them",
    export_step=_EXPORT,
    erase_step=_ERASE,
)
