"""The personal data pages keeps: who created, last saved and deleted each page, who wrote each
version, and the text they wrote (titles and bodies, which can mention other accounts)."""

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

_EXPORT, _ERASE = step_routes("pages")

PERSONAL_DATA = PersonalData(
    tables=(
        PersonalTable(
            "pages",
            subject="created_by",
            fields=(
                PersonalField("created_by", Holds.ACCOUNT_ID, OnErase.FORMER_USER),
                PersonalField("updated_by", Holds.ACCOUNT_ID, OnErase.FORMER_USER),
                PersonalField("deleted_by", Holds.ACCOUNT_ID, OnErase.FORMER_USER),
                PersonalField("title", Holds.AUTHORED_TEXT, OnErase.CONTENT),
                PersonalField("body", Holds.AUTHORED_TEXT, OnErase.CONTENT),
            ),
            note="with content erased a page whose current version the person saved is "
            "emptied (its place in the tree and others' older versions stay)",
        ),
        PersonalTable(
            "page_versions",
            subject="author",
            fields=(
                PersonalField("author", Holds.ACCOUNT_ID, OnErase.FORMER_USER),
                PersonalField("title", Holds.AUTHORED_TEXT, OnErase.CONTENT),
                PersonalField("body", Holds.AUTHORED_TEXT, OnErase.CONTENT),
            ),
            note="with content erased every version the person wrote is emptied",
        ),
        PersonalTable(
            "view_outbox",
            subject="account_id",
            fields=(PersonalField("account_id", Holds.ACCOUNT_ID, OnErase.FORMER_USER),),
            note="a page view waits here (after milliseconds in the process's buffer) only "
            "until analytics has it, seconds in the normal course; an erased viewer's waiting "
            "views become former user's, so analytics counts them as views but never as the "
            "person's",
        ),
    ),
    free=(
        NoPersonalData("spaces", "a space's key and name, set by the site"),
        NoPersonalData("trash_tenants", "names tenants and sites only, never people"),
        NoPersonalData(
            "page_terms", "blind indexes of the words of pages; an emptied page loses its own"
        ),
    ),
    logs="page ids and account ids in request lines, never text; logs are appended under the "
    "data directory's logs/ until the operator rotates them",
    export_step=_EXPORT,
    erase_step=_ERASE,
)
