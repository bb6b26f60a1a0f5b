"""What personal data each service keeps, declared beside its tables, so that an export and an
erasure can reach every store and no new table can hold a person's data unnoticed.

Every service's spec carries one `PersonalData`: each of its tables is either a
`PersonalTable` (which column says whose data a row is, which columns hold what about that
person, and what erasing the person does to each) or a `NoPersonalData` (with the reason), and
the blobs, logs and metrics it keeps are described in words. The declaration also names the
service's export and erase steps for one account, when it has personal data to give or take.
`tenantry policy check` (`tenantry.cli.personal_data_check`) fails when a table or a service
has no declaration, when a declaration names a table or column that does not exist, or when a
table declared free of personal data has a column that refers to an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Holds(StrEnum):
    """What a column or blob holds about its person."""

    ACCOUNT_ID = "account_id"
    """The person's account id (a pseudonym, but it links every other record to them)."""
    EMAIL = "email"
    DISPLAY_NAME = "display_name"
    CREDENTIAL = "credential"
    """A password hash, or anything else that proves who they are."""
    TOKEN = "token"  # noqa: S105 (a kind of data, not a secret)
    """A token issued to them, or the record that one was revoked."""
    AUTHORED_TEXT = "authored_text"
    """Free text the account wrote (a description, a comment)."""
    UPLOADED_FILE = "uploaded_file"
    """A file the account uploaded, or what names it (its name, its size)."""
    ACTIVITY = "activity"
    """A record of what the account did (an audit entry, a role change, a key it owns)."""


class OnErase(StrEnum):
    """What erasing the person does to a column."""

    DELETE_ROW = "delete_row"
    """The whole row goes (it is about the person and nobody else)."""
    SCRUB = "scrub"
    """The value is overwritten at once (email, name, credentials)."""
    FORMER_USER = "former_user"
    """The account reference becomes "former user", with no link back to the person."""
    CONTENT = "content"
    """With `content: erase` the text or file goes too; with `content: keep` it stays, no
    longer attributed to anyone."""
    RETAIN = "retain"
    """Kept as it is, for the reason its table gives (an append-only, tamper-evident log)."""


@dataclass(frozen=True, slots=True)
class PersonalField:
    """One column that holds personal data, what it holds, and what erasure does to it."""

    column: str
    holds: Holds
    on_erase: OnErase


@dataclass(frozen=True, slots=True)
class PersonalTable:
    """A table whose rows hold personal data of the account that `subject` names."""

    table: str
    subject: str
    """The column naming whose data a row is (an account id)."""
    fields: tuple[PersonalField, ...]
    note: str = ""
    """Why erasure does what it does here, where that is not obvious (retained logs)."""


@dataclass(frozen=True, slots=True)
class NoPersonalData:
    """A table that holds no personal data, and why (ids, counters, keys, queues)."""

    table: str
    reason: str


@dataclass(frozen=True, slots=True)
class PersonalData:
    """Everything a service keeps about people: tables, blobs, logs and metrics.

    `steps` are the routes (METHOD, path) of its export and erase steps for one account; a
    service with a `PersonalTable` or personal blobs declares both, and the routes must be
    among those it serves.
    """

    tables: tuple[PersonalTable, ...] = ()
    free: tuple[NoPersonalData, ...] = ()
    blobs: str = ""
    """The blobs it keeps that hold personal data, and whose they are; empty for none."""
    logs: str = ""
    """What its logs and metrics keep about people, and for how long."""
    export_step: tuple[str, str] | None = None
    erase_step: tuple[str, str] | None = None

    @property
    def needs_steps(self) -> bool:
        """Whether an erasure changes anything here (so the service must serve the steps):
        some field is not simply retained, or it keeps blobs of people."""
        changed = any(f.on_erase is not OnErase.RETAIN for t in self.tables for f in t.fields)
        return changed or bool(self.blobs)

    def declared_tables(self) -> dict[str, PersonalTable | NoPersonalData]:
        """Every table the declaration names, by name."""
        entries: list[PersonalTable | NoPersonalData] = [*self.tables, *self.free]
        return {entry.table: entry for entry in entries}


ACCOUNT_REFERENCE_NAMES = frozenset(
    {
        "account",
        "account_id",
        "actor",
        "assignee",
        "author",
        "created_by",
        "deleted_by",
        "display_name",
        "email",
        "email_index",
        "owner",
        "reporter",
        "updated_by",
        "uploaded_by",
        "user_id",
    }
)
"""Column names that refer to an account (or hold what identifies one): a table with one of
them cannot be declared free of personal data."""


def refers_to_an_account(column: str) -> bool:
    """Whether a column of that name refers to an account."""
    return column in ACCOUNT_REFERENCE_NAMES or column.endswith(("_account_id", "_by"))


AUDIT_OUTBOX = PersonalTable(
    "audit_outbox",
    subject="event",
    fields=(PersonalField("event", Holds.ACTIVITY, OnErase.RETAIN),),
    note="an audit event names its actor and target by account id only (never an email, a "
    "name or content) and waits here only until the region's audit service has it, seconds "
    "in the normal course; the audit log keeps it (see the audit service's declaration)",
)
"""The outbox every service that records audit events keeps (`platform.audit.outbox`)."""


def step_routes(service: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The export and erase step routes of `service`, where every service serves them."""
    prefix = f"/internal/{service}/personal-data"
    return ("POST", f"{prefix}/export"), ("POST", f"{prefix}/erase")


FORMER_USER = "former user"
"""What a record shows where an erased account was named: no id, no link back."""
