"""Every statement the notes service runs, each in the current tenant's own session."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from notes_service.models import Note
from tenantry.platform.storage import Databases


class NoteStore:
    """Notes of the request's tenant, on the tenant's shard."""

    def __init__(self, databases: Databases) -> None:
        self._databases = databases

    def add(self, text: str) -> str:
        """Keep a new note; its id, made here, is returned."""
        note_id = uuid.uuid4().hex
        with self._databases.session() as session:
            session.add(Note(id=note_id, text=text))
            session.commit()
        return note_id

    def text(self, note_id: str) -> str | None:
        """The text of the tenant's note `note_id`, or None (other tenants' notes are not seen)."""
        with self._databases.session() as session:
            return session.scalar(select(Note.text).where(Note.id == note_id))
