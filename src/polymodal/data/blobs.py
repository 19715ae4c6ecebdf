"""Media given as bytes instead of paths: a Hugging Face `datasets` Image or Audio column (`{"bytes", "path"}`
structs in Parquet and Arrow, `{"array", "sampling_rate"}` once decoded), or plain bytes cells.

Every such cell is written once to a content-addressed store, `$POLYMODAL_HOME/blobs/<ab>/<sha1>.<ext>`, and
replaced by that path: from there on, detection, validation, loaders, the feature cache, reports and serving see
an ordinary file. The name is the sha1 of the bytes, the same content hash the feature cache keys a file by,
so an image given as bytes and the same image given as a file share one cache entry. The extension comes from
the content's first bytes (PNG, JPEG, GIF, BMP, WebP, TIFF; WAV, FLAC, Ogg, MP3), which is how the schema
tells images from audio. Writes are atomic (a temp file, then a rename), so concurrent readers of one table
never see half a file. A struct with no bytes but a path is that path.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..paths import home

MAGIC = (  # (offset, bytes, extension)
    (0, b"\x89PNG\r\n\x1a\n", ".png"), (0, b"\xff\xd8\xff", ".jpg"), (0, b"GIF87a", ".gif"), (0, b"GIF89a", ".gif"),
    (0, b"BM", ".bmp"), (0, b"II*\x00", ".tif"), (0, b"MM\x00*", ".tif"), (8, b"WEBP", ".webp"),
    (8, b"WAVE", ".wav"), (0, b"fLaC", ".flac"), (0, b"OggS", ".ogg"), (0, b"ID3", ".mp3"), (0, b"\xff\xfb", ".mp3"),
    (0, b"\xff\xf3", ".mp3"), (0, b"\xff\xf2", ".mp3"),
)


def blob_root() -> Path:
    return home() / "blobs"


def extension(data: bytes) -> str:
    for offset, magic, ext in MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return ext
    return ".bin"


def _bytes_like(value: Any) -> bool:
    return isinstance(value, bytes | bytearray | memoryview)


def is_blob(value: Any) -> bool:
    """Media bytes (a known signature: other bytes, digests or pickles, stay as they are), or a struct holding
    media (`bytes` and/or `path`, or a decoded `array` with its `sampling_rate`)."""
    if _bytes_like(value):
        return extension(bytes(value[:16])) != ".bin"
    if not isinstance(value, dict):
        return False
    if "array" in value and "sampling_rate" in value:
        return True
    struct = "bytes" in value and set(value) <= {"bytes", "path"}
    return struct and (value["bytes"] is None or _bytes_like(value["bytes"]))


def _wav(array: Any, rate: int) -> bytes:
    import soundfile as sf

    out = io.BytesIO()
    wave = np.asarray(array, dtype=np.float32)
    if wave.ndim == 2 and wave.shape[0] < wave.shape[1]:  # (channels, samples), as decoders give it
        wave = wave.T
    sf.write(out, wave, int(rate), format="WAV", subtype="FLOAT")
    return out.getvalue()


def store(data: bytes, fallback: str = ".bin") -> Path:
    """The blob's path in the store, written if it is not there yet; `fallback`: the extension when the content's
    signature is not one `extension` knows (a tar member's own, say `.mp4`)."""
    digest = hashlib.sha1(data).hexdigest()
    ext = extension(data)
    path = blob_root() / digest[:2] / f"{digest}{ext if ext != '.bin' else fallback}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".blob-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def to_path(value: Any) -> Any:
    """The cell as a path string (blobs stored), None for an empty struct; anything else unchanged."""
    if isinstance(value, bytes | bytearray | memoryview):
        return str(store(bytes(value))) if len(value) else None
    if not isinstance(value, dict):
        return value
    data = value.get("bytes")
    if data is not None and len(data):
        return str(store(bytes(data)))
    if value.get("array") is not None and value.get("sampling_rate"):
        return str(store(_wav(value["array"], value["sampling_rate"])))
    path = value.get("path")
    return path if isinstance(path, str) and path else None


def blob_columns(df: pd.DataFrame, sample: int = 50) -> list[str]:
    """Columns whose first present cells are media bytes or structs."""
    found = []
    for name in df.columns:
        if df[name].dtype != object:
            continue
        head = [v for v in df[name].head(sample * 4).tolist() if v is not None and not _nan(v)][:sample]
        if head and all(is_blob(v) for v in head):
            found.append(name)
    return found


def _nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def spill(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with every blob column's cells replaced by paths into the store (a copy when any changes)."""
    columns = blob_columns(df)
    if not columns:
        return df
    df = df.copy()
    for name in columns:
        df[name] = [to_path(v) if v is not None and not _nan(v) else None for v in df[name].tolist()]
    return df
