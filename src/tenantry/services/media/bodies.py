"""Reading upload bodies: raw bytes or a multipart `file` field, bounded, kept in memory only.

Starlette's own form parser spools large parts to temporary files, which would put plaintext on
disk; this parser keeps the one part it wants in memory and refuses anything over the limit
while it is still arriving.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from tenantry.platform.errors import ApiError
from tenantry.platform.text import text_problem

FILE_FIELD = b"file"


@dataclass(frozen=True, slots=True)
class Upload:
    """The bytes a client sent and the file name it gave (None when it gave none)."""

    data: bytes
    filename: str | None


def too_large(limit: int) -> ApiError:
    """The refusal for a body over `limit` bytes."""
    return ApiError(413, "file_too_large", f"files may be at most {limit} bytes")


async def read_raw(request: Request, limit: int) -> bytes:
    """The whole body, refused (413 `file_too_large`) as soon as it passes `limit` bytes."""
    return b"".join(await read_pieces(request, limit))


async def read_pieces(request: Request, limit: int) -> list[bytes]:
    """The body as the pieces it arrived in (never joined: one copy of it in memory), refused
    (413 `file_too_large`) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    pieces: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise too_large(limit)
        if piece:
            pieces.append(piece)
    return pieces


async def read_upload(request: Request, limit: int, name: str | None) -> Upload:
    """A multipart body's `file` part, or a raw body (named by the `name` query parameter)."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data":
        return Upload(await read_raw(request, limit), name)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "malformed_multipart", "the multipart body names no boundary")
    part = _FilePart(limit)
    try:
        parser = MultipartParser(boundary, part.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(400, "malformed_multipart", "the multipart body is malformed") from exc
    if not part.found:
        raise ApiError(422, "file_required", "send the file in a multipart field named `file`")
    if part.filename is not None:
        problem = text_problem(part.filename, multi_line=False)
        if problem is not None:
            raise ApiError(422, "invalid_request", f"the file name {problem}")
    return Upload(bytes(part.data), part.filename or name)


@dataclass
class _FilePart:
    """Collects the part named `file` (a second one is refused); other parts are skipped."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    filename: str | None = None
    found: bool = False
    _field: bytearray = field(default_factory=bytearray)
    _value: bytearray = field(default_factory=bytearray)
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _taking: bool = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}
        self._taking = False

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        if options.get(b"name") != FILE_FIELD:
            return
        if self.found:
            # Which of two files was meant cannot be guessed; keeping one would lose the other.
            raise ApiError(
                400, "duplicate_file_field", "send one file per upload, in one field `file`"
            )
        self._taking = True
        self.found = True
        raw = options.get(b"filename")
        self.filename = raw.decode("utf-8", "replace") if raw is not None else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._taking:
            return
        self.data.extend(data[start:end])
        if len(self.data) > self.limit:
            raise too_large(self.limit)

    def _end(self) -> None:
        self._taking = False
