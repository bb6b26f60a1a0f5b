"""Shared pieces for preview tests: one worker pool per module, files built once, a loopback spy."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tenantry.services.media.previews import PreviewWorkers

from . import documents


@pytest.fixture(scope="module")
def pool() -> Iterator[PreviewWorkers]:
    """Two worker processes shared by a module's tests; closed (and joined) at the end."""
    with PreviewWorkers(workers=2) as workers:
        yield workers


@pytest.fixture(scope="session")
def pptx(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A PowerPoint file, made by LibreOffice from a presentation we wrote ourselves."""
    workdir = tmp_path_factory.mktemp("pptx")
    return documents.converted(documents.odp("Quarterly numbers"), "odp", "pptx", workdir)


@dataclass
class Spy:
    """An HTTP server on loopback that records every request it gets."""

    url: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def spy_server() -> Iterator[Spy]:
    spy = Spy(url="")
    picture = documents.png()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            spy.requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(picture)))
            self.end_headers()
            self.wfile.write(picture)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    spy.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield spy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))
