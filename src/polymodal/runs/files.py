"""Files that are whole or absent: the one atomic-write helper every module uses.

A file is written under a temporary name in its own folder (same disk, so the rename is atomic),
optionally flushed to disk, then moved over its final name with `os.replace`. On any error,
`KeyboardInterrupt` included, the temporary file is removed and the old file, if any, is left as it
was. JSON and safetensors readers name the damaged file instead of raising from deep inside a library.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PolymodalError

if TYPE_CHECKING:
    import torch

Writer = Callable[[Path], None]


def atomic_write(path: str | Path, content: bytes | str | Writer, *, durable: bool = False) -> Path:
    """Put `content` at `path` atomically: bytes, text (UTF-8), or a function that writes a given path.
    `durable` fsyncs the file before the rename and the folder after it (checkpoints, run markers):
    the write then survives a power cut, not only a killed process."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
        if durable:
            _fsync(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; run files are meant to be read and shared
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        named = storage_error(exc, path)
        if named is not None:
            raise named from exc
        raise
    return path


# errno -> what it means for the user. Libraries that wrap the OS error (safetensors' Rust writer,
# say) keep only its text, "No space left on device (os error 28)": those are matched by that text.
STORAGE_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                  errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied"}


def storage_error(exc: BaseException, path: str | Path | None = None) -> PolymodalError | None:
    """A named error for a write that failed because of where it writes (full disk, read-only folder,
    no permission), or None for any other failure. The earlier file, if any, is untouched."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code not in STORAGE_ERRORS:
        text = str(exc)
        code = next((c for c in STORAGE_ERRORS if c != errno.EPERM and
                     (os.strerror(c) in text or f"os error {c})" in text)), None)
    if code is None:
        return None
    where = path if path is not None else getattr(exc, "filename", None) or "a file"
    return PolymodalError(f"cannot write {where}: {STORAGE_ERRORS[code]} ({os.strerror(code)}). Nothing written "
                          "before was lost; free space or choose a writable folder, then run the command again "
                          "(an interrupted fit continues with --resume)")


def check_writable(folder: str | Path, flag: str = "--out") -> None:
    """Refuse before any work a destination folder that cannot be written (a read-only file system, no
    permission, a full disk): probed by creating a file, the only check that holds for root too."""
    folder = Path(folder)
    probe_in = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    try:
        if not probe_in.is_dir():
            raise PolymodalError(f"{flag} {folder}: {probe_in} is a file, not a folder")
        fd, name = tempfile.mkstemp(dir=probe_in, prefix=".polymodal-write-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        reason = STORAGE_ERRORS.get(exc.errno, exc.strerror or str(exc))
        raise PolymodalError(f"{flag} {folder}: cannot write in {probe_in} ({reason}); choose a writable "
                             "folder. Nothing was started.") from exc


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: str | Path, data, *, durable: bool = False) -> Path:
    return atomic_write(path, json.dumps(data, indent=2, default=_jsonable, ensure_ascii=False), durable=durable)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def read_json(path: str | Path):
    """The JSON in `path`; a damaged file is a clear error that names it, not a traceback."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolymodalError(f"{path}: corrupt or unreadable JSON ({exc}); re-run the command that wrote it") from exc


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, *, durable: bool = False) -> Path:
    """Tensors as safetensors (contiguous, on the CPU: the file's layout never depends on the device)."""
    from safetensors.torch import save_file  # here: reading a table or building data needs no torch

    plain = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(plain, str(tmp)), durable=durable)


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a damaged file is a clear error that names it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise PolymodalError(f"{path}: corrupt or unreadable weights ({exc}); re-run the fit that wrote them") from exc


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs: the work folders of a killed one (named by its pid) can go."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
