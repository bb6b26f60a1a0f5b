"""The notes API: what a caller may ask of the service, with no SQL of its own."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, Field

from notes_service.store import NoteStore
from tenantry.platform.errors import ApiError

PREFIX = "/rest/notes"


class NewNote(BaseModel):
    """The body of `POST /rest/notes/notes`."""

    text: str = Field(min_length=1, max_length=100)


def build_router(store: NoteStore) -> APIRouter:
    """The notes routes over `store`."""
    router = APIRouter(prefix=PREFIX)

    @router.post("/notes", status_code=201)
    async def add_note(body: NewNote) -> dict[str, str]:
        note_id = await asyncio.to_thread(store.add, body.text)
        return {"id": note_id, "text": body.text}

    @router.get("/notes/{note_id}")
    async def read_note(note_id: str) -> dict[str, str]:
        text = await asyncio.to_thread(store.text, note_id)
        if text is None:
            raise ApiError(404, "note_not_found", "there is no such note")
        return {"id": note_id, "text": text}

    return router
