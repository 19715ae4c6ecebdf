"""Zero-shot classification through an alignment: each class name becomes text prompts (several
templates, averaged as in CLIP's prompt ensembling, Radford et al. 2021), and every row of the
image or audio column takes the class whose prompt embedding is nearest."""

from __future__ import annotations

import numpy as np

from ..data.table import read_table
from ..errors import PolymodalError

TEMPLATES = ("{}", "a {}", "an image of {}", "a picture of a {}", "the {}")


def class_embeddings(aligner, classes: list[str], text_column: str, templates=TEMPLATES) -> np.ndarray:
    prompts = [t.format(c.replace("_", " ").replace("-", " ")) for c in classes for t in templates]
    z = aligner.embed(text_column, prompts).reshape(len(classes), len(templates), -1).mean(1)
    return z / np.linalg.norm(z, axis=1, keepdims=True).clip(1e-12)


def zero_shot(aligner, data, *, label: str, column: str, text_column: str | None = None,
              templates=TEMPLATES) -> dict:
    """Accuracy of zero-shot classification of `column` into the values of `label`."""
    table = read_table(data)
    texts = [c for c in aligner.columns_ if aligner.schema_.modalities.get(c) == "text"]
    text_column = text_column or (texts[0] if texts else None)
    if text_column is None or text_column == column:
        raise PolymodalError(f"zero-shot needs a text column in the alignment besides {column!r}; "
                             f"aligned columns: {', '.join(aligner.columns_)}")
    if label not in table.df.columns:
        raise PolymodalError(f"{table.source}: no label column {label!r}")
    labelled = table.df[label].notna().to_numpy()
    classes = sorted({str(v) for v in table.df[label].dropna()})
    emb, present = aligner.embed_table(table, column)
    pred = np.asarray(classes)[(emb @ class_embeddings(aligner, classes, text_column, templates).T).argmax(1)]
    rows = labelled & present
    truth = table.df[label].astype(str).to_numpy()
    correct = pred[rows] == truth[rows]
    return {"accuracy": float(correct.mean()) if rows.any() else 0.0, "n": int(rows.sum()),
            "classes": len(classes), "chance": 1.0 / max(len(classes), 1), "templates": list(templates),
            "predictions": pred.tolist()}
