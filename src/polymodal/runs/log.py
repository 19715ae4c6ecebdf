"""The training log a user can watch while a fit runs: RUN/log.csv, one row per epoch, appended and
flushed as training goes (`tail -f` works), and optionally TensorBoard event files (RUN/tensorboard/,
`pip install polymodal[tensorboard]`). Every trainer calls an `EpochLog` with its history rows."""

from __future__ import annotations

import csv
import io
import logging
import numbers
from pathlib import Path

from ..errors import PolymodalError
from .files import atomic_write

logger = logging.getLogger("polymodal")
KEY = ("stage", "epoch")  # a row is replaced (not repeated) when a resumed fit logs its epoch again


class EpochLog:
    """Append history rows to `path` (CSV). `stage` names what trains (a candidate, a reader) so one
    log holds every model of a fit. Rows with new columns widen the file (rewritten whole, atomically)."""

    def __init__(self, path: Path | None, *, tensorboard: bool = False, resume: bool = False):
        self.path, self.rows, self.fields = path, [], ["stage", "epoch"]
        self.writer = _tensorboard(path.parent / "tensorboard") if tensorboard and path is not None else None
        if path is not None and resume and path.exists():
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.fields = list(reader.fieldnames or self.fields)
                self.rows = list(reader)
        elif path is not None:
            path.unlink(missing_ok=True)

    def stage(self, name: str):
        """A callback that logs rows under `name` (what the trainers take as `on_epoch_end`)."""
        return lambda row: self.log(name, row)

    def log(self, stage: str, row: dict) -> None:
        row = {"stage": stage, **{k: _plain(v) for k, v in row.items()}}
        logger.debug("%s epoch %s: %s", stage, row.get("epoch"), {k: v for k, v in row.items() if k not in KEY})
        if self.writer is not None:
            for key, value in row.items():
                if key not in KEY and isinstance(value, numbers.Real):
                    self.writer.add_scalar(f"{stage}/{key}", value, int(row.get("epoch", 0)))
            self.writer.flush()
        if self.path is None:
            return
        key = tuple(str(row.get(k)) for k in KEY)
        replaced = [r for r in self.rows if tuple(str(r.get(k)) for k in KEY) == key]
        self.rows = [r for r in self.rows if r not in replaced] + [row]
        new = [k for k in row if k not in self.fields]
        if new or replaced or not self.path.exists():
            self.fields += new
            self._rewrite()
        else:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, self.fields).writerow(row)
                f.flush()

    def _rewrite(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.fields)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.path, buffer.getvalue())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _plain(value):
    return round(value, 6) if isinstance(value, float) else value


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise PolymodalError("--tensorboard needs the tensorboard package: pip install 'polymodal[tensorboard]' "
                             "(or pip install tensorboard)") from exc
    return SummaryWriter(str(folder))
