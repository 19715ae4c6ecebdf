"""Uploaded files: size limit, declared content type, and a full decode before any model sees them.

Files land in a per-request temporary folder under a name the server chooses (only the extension
of the client's file name is kept, and only a known one), so a request can never point the server
at a path of its own choosing. `UploadFolder` removes the folder when the request is done.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from starlette.datastructures import UploadFile

from ..data.validate import CHECKERS
from ..runs.files import process_alive
from ..schema import AUDIO_EXT, IMAGE_EXT, VIDEO_EXT
from .errors import bad_input, too_large, wrong_type

EXTENSIONS = {"image": IMAGE_EXT, "audio": AUDIO_EXT, "video": VIDEO_EXT}
DEFAULT_EXT = {"image": ".png", "audio": ".wav", "video": ".gif"}
GENERIC_TYPES = {"", "application/octet-stream"}  # what curl and most clients send when they do not know
EXTRA_TYPES = {"video": {"image/gif"}, "audio": {"application/ogg"}}
CHUNK = 1 << 16
PREFIX = "polymodal-upload-"  # + the server's pid: the folders of a killed server are found by it


def check_content_type(field: str, role: str, upload: UploadFile) -> None:
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared in GENERIC_TYPES or declared.startswith(f"{role}/") or declared in EXTRA_TYPES.get(role, ()):
        return
    raise wrong_type(f"field {field!r}: expected an {role} file, got content type {declared!r} "
                     f"(file {upload.filename!r})")


def remove_orphans() -> int:
    """Remove the upload folders of servers that were killed mid-request (a killed process cleans
    nothing); called when a server starts. Returns how many were removed."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


class UploadFolder:
    """A temporary folder for one request's files; use as a context manager."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self.count = 0

    def __enter__(self) -> UploadFolder:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    async def save(self, field: str, role: str, upload: UploadFile, max_bytes: int) -> Path:
        """Write the upload (at most `max_bytes`), then decode it fully: 413, 415 or 422 on failure."""
        check_content_type(field, role, upload)
        suffix = Path(upload.filename or "").suffix.lower()
        suffix = suffix if suffix in EXTENSIONS[role] else DEFAULT_EXT[role]
        self.count += 1
        path = self.path / f"{self.count}-{role}{suffix}"
        size = 0
        with open(path, "wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(f"field {field!r}: file {upload.filename!r} is larger than the limit of "
                                    f"{max_bytes / 1e6:g} MB")
                out.write(chunk)
        if size == 0:
            raise bad_input(f"field {field!r}: file {upload.filename!r} is empty")
        problem = CHECKERS[role](path)
        if problem:  # the checker names our temp path; the client knows its own file name
            reason = problem.replace(f" {path}", "").replace(str(path), upload.filename or "the upload")
            raise bad_input(f"field {field!r}: file {upload.filename!r} is not a readable {role} ({reason})")
        return path
