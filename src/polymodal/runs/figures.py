"""One sentence per reported figure saying which rows it comes from, for every job's report, model card,
metrics.json and CLI line. No sentence claims more than the rows allow: validation rows that chose the
epoch or the model make an optimistic figure, and say so."""

from __future__ import annotations


def where_from(split: str, rows: int, *, chose: str = "early stopping", folds: int = 0, metric: str = "") -> str:
    """`split`: test, val, train or cv; `chose`: what the validation rows decided ("" when nothing)."""
    if split == "test":
        return f"test: {rows} rows never used for training" + (f" or {chose}" if chose else "")
    if split == "cv":
        return (f"{folds}-fold cross-validated over {rows} rows: each fold's {metric} comes from rows that fold "
                "never used for training or selection; mean ± std over folds")
    if split == "val":
        return (f"validation: {rows} rows used for {chose}, so optimistic" if chose
                else f"validation: {rows} rows never used for training")
    return f"training: {rows} rows the model was trained on, so optimistic"
