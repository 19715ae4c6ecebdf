"""/predict for a Predictor run: form fields and uploads -> one row -> labels and probabilities.

A request's files are checked and decoded in its own thread; the batch of decoded rows goes through
the encoders (features of frozen encoders computed afresh, never written to the feature cache) and
the head on PyTorch or ONNX Runtime (`runtime`), alone or batched with concurrent requests (`batching`).
"""

from __future__ import annotations

import math
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from ..encoders.online import ColumnEncoder, load_cell
from ..export.runtime import head_runner
from ..schema import FILE_ROLES
from .batcher import Batcher
from .errors import bad_input
from .schemas import Field_, Prediction
from .uploads import UploadFolder


class PredictService:
    def __init__(self, predictor, *, runtime: str = "torch", batching: bool = False, max_batch: int = 32,
                 batch_workers: int = 2):
        self.predictor, self.runtime = predictor, runtime
        model, schema = predictor.model_, predictor.schema_
        # a request's fields: each input column, a tabular group's member columns in its place (schema.py)
        self.groups = {c: schema.members(c) for c in model.modalities if schema.modalities[c] == "tabular"}
        self.roles = {m: schema.role(m) for c in model.modalities for m in self.groups.get(c, (c,))}
        self.encoders = {c: ColumnEncoder(predictor.encoders_[c]) for c in model.modalities}
        self.head = head_runner(model, runtime)
        self.batcher = Batcher(self.run_batch, max_batch=max_batch, workers=batch_workers) if batching else None

    def fields(self) -> list[Field_]:
        return [Field_(name=c, role=r, kind="file" if r in FILE_ROLES else "value") for c, r in self.roles.items()]

    def labels(self) -> dict[str, list]:
        """Label column -> its classes (empty for regression)."""
        from ..predict.predictor import _tasks

        return {t.column: list(getattr(t, "classes", getattr(t, "labels", []))) for t in _tasks(self.predictor.task_)}

    def warm_up(self) -> None:
        """One batch with every input present: exports/loads ONNX graphs before the first request."""
        row = {c: self._sample(c) for c in self.encoders}
        self.run_batch([row])

    def _sample(self, column: str) -> Any:
        empty = self.encoders[column].encoder.loader().empty()
        return "warm up" if isinstance(empty, str) else empty

    # ------------------------------------------------------------- a request
    async def parse(self, form: FormData, folder: UploadFolder, max_bytes: int) -> dict[str, Any]:
        """Cells of one row (paths of checked uploads, parsed values); absent fields are missing modalities."""
        unknown = sorted(set(form.keys()) - set(self.roles))
        if unknown:
            raise bad_input(f"unknown field(s) {', '.join(map(repr, unknown))}; this run takes: {self._describe()}")
        cells: dict[str, Any] = {}
        for column, role in self.roles.items():
            values = form.getlist(column)
            if not values:
                continue
            if len(values) > 1:
                raise bad_input(f"field {column!r} is given {len(values)} times; /predict takes one row")
            value = values[0]
            if role in FILE_ROLES:
                if not isinstance(value, UploadFile):
                    raise bad_input(f"field {column!r} must be an uploaded {role} file (multipart), not a value")
                cells[column] = await folder.save(column, role, value, max_bytes)
            else:
                if isinstance(value, UploadFile):
                    raise bad_input(f"field {column!r} takes a {role} value, not a file")
                cells[column] = parse_value(column, role, value)
        if not cells:
            raise bad_input(f"no input given; this run takes: {self._describe()}")
        return cells

    def _describe(self) -> str:
        return ", ".join(f"{c} ({r}{' file' if r in FILE_ROLES else ''})" for c, r in self.roles.items())

    def load(self, cells: dict[str, Any]) -> dict[str, Any]:
        """Decode each cell with its encoder's loader (a 422 naming the field when that fails)."""
        row = {}
        for column in self.encoders:
            cell = cells.get(column)
            if column in self.groups:  # the group's cell: its members given, None when none is
                cell = {m: cells[m] for m in self.groups[column] if m in cells} or None
            try:
                row[column] = load_cell(self.encoders[column].encoder, cell)
            except Exception as exc:
                raise bad_input(f"field {column!r} could not be read: {exc}") from exc
        return row

    async def predict(self, cells: dict[str, Any]) -> list[Prediction]:
        row = await run_in_threadpool(self.load, cells)
        if self.batcher is None:
            predictions = (await run_in_threadpool(self.run_batch, [row]))[0]
        else:
            predictions = await self.batcher.submit(row)
        return finite(predictions, cells, self.roles)

    # ------------------------------------------------------------- a batch
    def run_batch(self, rows: list[dict[str, Any]]) -> list[list[Prediction]]:
        inputs, masks = {}, {}
        for column, encoder in self.encoders.items():
            inputs[column], masks[column] = encoder([r[column] for r in rows])
        table = self.predictor.task_.predict(self.head(inputs, masks))
        labels = self.labels()
        return [to_predictions(table.iloc[i], labels) for i in range(len(rows))]


def parse_value(column: str, role: str, value: str) -> Any:
    text = value.strip()
    if not text:
        raise bad_input(f"field {column!r} is empty; leave the field out to predict without it")
    if role == "numeric":
        try:
            number = float(text)
        except ValueError:
            raise bad_input(f"field {column!r} must be a number, got {value[:50]!r}") from None
        if not math.isfinite(number):
            raise bad_input(f"field {column!r} must be a finite number, got {value[:50]!r}")
        return number
    return text


def finite(predictions: list[Prediction], cells: dict[str, Any], roles: dict[str, str]) -> list[Prediction]:
    """A row the model computes no number for is refused, never answered with NaN probabilities (they leave
    as JSON null, and the class picked among NaNs is arbitrary). A number far beyond the training range does
    it: standardised, it still overflows the numeric encoder's float32 layers (the fuzzer sent 1.6e226)."""
    numbers = [p.value for p in predictions if isinstance(p.value, float)]
    numbers += [v for p in predictions for v in p.probabilities.values()]
    if all(math.isfinite(v) for v in numbers):
        return predictions
    given = ", ".join(f"{c}={v!r}" for c, v in cells.items() if roles.get(c) == "numeric")
    raise bad_input("the model's output for this input is not a finite number"
                    + (f"; a number far outside the range it was trained on? ({given})" if given else ""))


def to_predictions(row, labels: dict[str, list]) -> list[Prediction]:
    out = []
    for label, classes in labels.items():
        proba = {str(c): float(row[f"proba_{label}_{c}"]) for c in classes}
        value = row[label]
        out.append(Prediction(label=label, value=value.item() if hasattr(value, "item") else value,
                              probabilities=proba))
    return out
