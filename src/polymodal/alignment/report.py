"""The report.html of an alignment run: every candidate method (the served one marked) against the
training-free baseline and chance, with the validation scores the choice was made on."""

from __future__ import annotations

from pathlib import Path

from ..report.html import Report
from ..report.plots import plot_history
from .run_io import method_rows


def write_alignment_report(a, run: Path) -> Path:
    report = Report(f"polymodal alignment: {' / '.join(a.columns_)}")
    m = a.metrics_
    report.add_heading("Overview")
    report.add_text(f"Shared {a.dim_}-d space for {', '.join(f'`{c}`' for c in a.columns_)}, made by "
                    f"**{a.method_}** ({m['selection']['why']}); fitted in {a.train_seconds_:.1f} s on "
                    f"{a.split_sizes_['train']} rows. Where the figures come from: **{a.estimate_}**. {m['note']}")
    report.add_heading("Retrieval")
    report.add_table(method_rows(m), caption="Every method fitted (the served one marked `chosen`): "
                     f"Recall@1 on the {a.eval_split_} split and on validation, where the "
                     "choice was made. ASIF is the training-free baseline (relative representations through the "
                     "training pairs); CCA, Procrustes and ridge are closed forms on the frozen features.",
                     highlight_max=["recall@1", "val_recall@1", "recall@10", "mrr"])
    consistency = [{"pair": p, **e["consistency"]} for p, e in m.get("pairs", {}).items()]
    report.add_table(consistency, caption="Multimodal consistency of the served method: cosine of true pairs "
                     "against shuffled pairs")
    if a.history_:
        report.add_heading("Training")
        plots = run / "plots"
        plots.mkdir(exist_ok=True)
        init = " (heads started at the CCA solution)" if m["selection"].get("init") == "cca" else ""
        report.add_image(plot_history(a.history_, plots / "history.png", "val_mean_recall@1"),
                         f"Contrastive loss and validation mean Recall@1 per epoch{init}")
    return report.write(run / "report.html")
