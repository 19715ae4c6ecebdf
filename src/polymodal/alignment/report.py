"""The report.html of an alignment run: retrieval against the training-free baseline and chance."""

from __future__ import annotations

from pathlib import Path

from ..report.html import Report
from ..report.plots import plot_history


def _rows(metrics: dict) -> list[dict]:
    rows = []
    for pair, entry in metrics.get("pairs", {}).items():
        for method in ("learned", "asif"):
            result = entry.get(method)
            for direction, m in (result or {}).items():
                rows.append({"pair": pair, "direction": direction, "method": method,
                             **{k: m[k] for k in ("recall@1", "recall@5", "recall@10", "mrr", "map",
                                                  "median_rank") if k in m}})
                if method == "learned":
                    rows.append({"pair": pair, "direction": direction, "method": "chance",
                                 **{f"recall@{k}": m.get(f"chance_recall@{k}") for k in (1, 5, 10)}})
    return rows


def write_alignment_report(a, run: Path) -> Path:
    report = Report(f"polymodal alignment: {' / '.join(a.columns_)}")
    m = a.metrics_
    report.add_heading("Overview")
    report.add_text(f"Shared {a.model_.dim}-d space for {', '.join(f'`{c}`' for c in a.columns_)} "
                    f"({a.loss} loss), trained in {a.train_seconds_:.1f} s on "
                    f"{a.split_sizes_['train']} rows. Where the figures come from: **{a.estimate_}**. {m['note']}")
    report.add_heading("Retrieval")
    report.add_table(_rows(m), caption="Learned alignment against the training-free ASIF baseline "
                     "(relative representations through the training pairs) and chance",
                     highlight_max=["recall@1", "recall@5", "recall@10", "mrr", "map"])
    consistency = [{"pair": p, **e["consistency"]} for p, e in m.get("pairs", {}).items()]
    report.add_table(consistency, caption="Multimodal consistency: cosine of true pairs against shuffled pairs")
    report.add_heading("Training")
    plots = run / "plots"
    plots.mkdir(exist_ok=True)
    report.add_image(plot_history(a.history_, plots / "history.png", "val_mean_recall@1"),
                     "Contrastive loss and validation mean Recall@1 per epoch")
    return report.write(run / "report.html")
