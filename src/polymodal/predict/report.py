"""The `report.html` of a fitted Predictor: what was learned, how each fusion compares with the
modalities alone, what happens when a modality is missing, and where the best model errs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ..report.html import Report
from ..report.plots import (
    plot_comparison,
    plot_confusion,
    plot_history,
    plot_missing_modality,
    plot_modality_importance,
    plot_reliability,
)
from . import explain
from .unlabeled import summary_text


def write_run_report(p, run: Path) -> Path:
    plots = run / "plots"
    plots.mkdir(exist_ok=True)
    monitor = p.task_.monitor
    report = Report(f"polymodal run: predict {', '.join(p.labels)}")
    _overview(report, p)
    _warm(report, p, plots, monitor)
    _comparison(report, p, plots, monitor)
    _missing(report, p, plots, monitor)
    _mattered(report, p, plots)
    _best_model(report, p, plots, monitor)
    _schema(report, p)
    return report.write(run / "report.html")


def _why(p) -> str:
    """What the saved model is, when it is an ensemble or a classical candidate: a user should know it is the
    simple one."""
    if p.best_.kind == "ensemble":
        from .run_io import members_text

        return (f": {members_text(p.best_.parts)}; it beat every single candidate on validation, where its weights "
                "were also fitted, so only the test figures below are unbiased")
    if p.best_.parts:
        from .run_io import members_text

        return (f": {members_text(p.best_.parts)}; its out-of-fold figures were the best, and are slightly "
                "optimistic (each fold both stopped and scored its model), so only the test figures are unbiased")
    cols = ", ".join(f"`{c}`" for c in p.best_.columns)
    if p.best_.name == "lightgbm":
        return (f" (gradient-boosted trees, LightGBM, on {cols}: numbers and categories as they are, embeddings as "
                f"their 32 leading principal components; {p.best_.best_epoch + 1} boosting rounds, stopped on "
                "validation): no fused neural candidate beat it there")
    if p.best_.name == "knn":
        k = p.best_.history[p.best_.best_epoch]["k"]
        return (f" ({k} nearest neighbours by cosine similarity over the standardised cached features of {cols}, k "
                "chosen on validation): no fused neural candidate beat it there")
    if p.best_.kind != "probe":
        return ""
    return (f" (scikit-learn's {'logistic' if p.task_.kind == 'classification' else 'ridge'} regression on the "
            f"standardised cached features of {cols}, regularisation "
            "chosen on validation): no fused neural candidate beat it there")


def _overview(report: Report, p) -> None:
    report.add_heading("Overview")
    best = p.best_
    report.add_text(
        f"Task **{p.task_.kind}** on `{', '.join(p.labels)}` from {len(p.columns_)} input column(s): "
        f"{', '.join(f'`{c}` ({p.schema_.modalities[c]}, encoder `{p.encoders_[c].name}`)' for c in p.columns_)}. "
        f"Rows of the saved model's fit: " + ", ".join(f"{k} {v}" for k, v in p.split_sizes_.items()) + ". "
        f"The best model on the validation split, and the one saved, is **{best.name}**{_why(p)}. "
        f"Where the figures below come from: "
        f"**{p.estimate_}**.")
    if p.estimate_kind_ == "cv":
        cv = p.cv_
        report.add_metrics({k: f"{v:.4f} ± {cv['std'][k]:.4f}" for k, v in cv["mean"].items()},
                           caption=f"The whole procedure, {cv['folds']}-fold cross-validated (models chosen per "
                                   f"fold: {', '.join(cv['chosen'])})")
    split = "test" if best.test else "val"
    report.add_metrics({k: v for k, v in (best.test or best.val).items() if isinstance(v, int | float)},
                       caption=f"{best.name} on its {split} split" + (" (optimistic: it chose the epochs and "
                                                                     "the fusion)" if split == "val" else ""))
    if len(p.skipped_):
        report.add_text(f"{p.skipped_['row'].nunique()} row(s) were skipped for bad data (see `skipped.csv`).")
    if summary_text(getattr(p, "unlabeled_", None)):
        report.add_text(summary_text(p.unlabeled_))
    if getattr(p, "streamed_", None):
        s = p.streamed_
        report.add_text(f"Streamed fit (a table read batch by batch, its features memory-mapped): {s['rows']} rows, "
                        f"{s['kept']} fitted, {s['skipped']} skipped for bad data (see `skipped.csv`), "
                        f"{s['unlabeled']} without a label. The split is {s['split']}. The classical candidates were "
                        f"fitted on at most {s['classical_rows']} training rows; every candidate is scored on every "
                        f"validation and test row. The robustness table and the modality summary use at most "
                        f"{s['eval_rows']} evaluation rows.")
    if getattr(p, "denoised_", None):
        report.add_table(pd.DataFrame(p.denoised_), caption="Denoising pre-training (predict/denoise.py): per column "
                         "with fixed features, the root mean square distance of its noisy validation features from "
                         "the clean ones, in standard deviations, before (rms_noisy) and after (rms_denoised) the "
                         "denoiser that every neural candidate started from")
    pre = getattr(p, "pretrain_info_", None)
    if pre:
        report.add_text(f"**Contrastive pre-training** (predict/pretrain.py): a front on each of "
                        f"{', '.join(pre['columns'])} was trained for {pre['epochs']} epoch(s) to bring a row's "
                        f"columns together (InfoNCE) on {pre['rows']} training rows and {pre['unlabeled_rows']} rows "
                        f"without a label, before every neural candidate fine-tuned it; validation loss "
                        f"{pre['val_loss_start']:.3f} -> {pre['val_loss_end']:.3f}.")
    privacy = getattr(p.best_, "privacy", None)
    if privacy:
        report.add_text(f"**Differentially private** (DP-SGD through Opacus, training/private.py): the model's "
                        f"weights are ({privacy['epsilon_spent']:.3g}, {privacy['delta']:g})-differentially private "
                        f"with respect to each training row (target epsilon {privacy['epsilon_target']:g}; "
                        f"{privacy['steps']} steps of Poisson-sampled batches at rate {privacy['sample_rate']:.4g}, "
                        f"each row's gradient clipped to norm {privacy['max_grad_norm']:g}, Gaussian noise multiplier "
                        f"{privacy['noise_multiplier']:.3g}; Renyi-DP accounting). Not covered: the validation rows "
                        "that chose the epoch, and statistics an encoder prepared from the training rows (the "
                        "standardisation of numbers, a trained tokenizer's vocabulary). No baseline or classical "
                        "candidate was fitted: each would spend budget of its own.")
    unbuilt = [s for s in getattr(p, "skipped_candidates_", []) if not getattr(p, "time_limit", None)]
    if unbuilt:
        report.add_text(f"{len(unbuilt)} candidate(s) skipped: "
                        + "; ".join(f"{s['stage']}{s['name']} ({s['reason']})" for s in unbuilt) + ".")
    if getattr(p, "time_limit", None):
        skipped = getattr(p, "skipped_candidates_", [])
        report.add_text(f"Time limit {p.time_limit:g} s (the fit took {getattr(p, 'fit_seconds_', 0):.0f} s): "
                        + ("every candidate ran." if not skipped else f"{len(skipped)} candidate(s) skipped: "
                           + "; ".join(f"{s['stage']}{s['name']} ({s['reason']})" for s in skipped) + "."))


def _warm(report: Report, p, plots: Path, monitor: str) -> None:
    info = getattr(p, "warm_info_", None)
    if not info:
        return
    report.add_heading("Online update")
    new, replayed, after = info["new_rows"], info["replayed"], info["reservoir_after"]
    started = ", ".join(f"`{n}`" for n in info.get("warm_started", [])) or "none (no saved weights matched)"
    report.add_text(f"A warm start from `{info['from']}` on {new['train']} new training, {new['val']} validation and "
                    f"{new['test']} test rows, with {replayed['train']} training and {replayed['val']} validation rows "
                    f"of the run's replay reservoir beside them (experience replay; predict/warm.py). Candidates "
                    f"continued from their saved weights: {started}; classical ones were refitted. "
                    + (f"The reservoir now holds {after['rows']} rows, a uniform sample of the {after['seen']} rows "
                       "fitted on so far." if after else "No reservoir is kept (replay=0)."))
    rows = info.get("before_after", [])
    if rows:
        bars = [{"name": r["rows"], "condition": r["model"], monitor: r[monitor]} for r in rows]
        path = plot_missing_modality(bars, plots / "warm_start.png", monitor, title=f"{monitor} before and after the "
                                     "update", legend="model")
        report.add_image(path, "The run's model before the update and the saved model after it: on the new "
                               "evaluation rows (what it learned) and on the reservoir's validation rows of earlier "
                               "fits (what it kept; those rows chose the earlier model, so its figure there is "
                               "optimistic, and they also chose this one)")
        report.add_table(rows, caption="Before and after the update")


def _comparison(report: Report, p, plots: Path, monitor: str) -> None:
    report.add_heading("Fusion strategies against each modality alone")
    split = "test" if any(c.test for c in p.candidates_) else "val"
    rows = [{"name": c.name, monitor: getattr(c, split).get(monitor), "kind": c.kind}
            for c in p.candidates_ if getattr(c, split)]
    path = plot_comparison(rows, plots / "comparison.png", monitor, f"{monitor} on the {split} split")
    report.add_image(path, f"Every candidate on the {split} split. Unimodal rows use one column only.")
    cols = [c for c in p.comparison_.columns if c.startswith(("val_", "test_"))]
    report.add_table(p.comparison_, caption="Candidates (seconds = training time on this machine)",
                     highlight_max=cols)


def _missing(report: Report, p, plots: Path, monitor: str) -> None:
    if len(p.columns_) < 2:
        return
    report.add_heading("Robustness to a missing modality")
    report.add_text("Each fusion evaluated with all modalities, then with one modality removed from every row "
                    "(its presence mask set to false), as happens when a cell is empty.")
    path = plot_missing_modality(p.missing_, plots / "missing_modality.png", monitor)
    report.add_image(path, f"{monitor} with each modality removed")
    report.add_table(p.missing_, highlight_max=[monitor])


def _best_model(report: Report, p, plots: Path, monitor: str) -> None:
    best = p.best_
    report.add_heading(f"The best model: {best.name}")
    if best.history:  # an ensemble trains nothing of its own: its members' curves are in the comparison
        path = plot_history(best.history, plots / "history.png", f"val_{monitor}")
        report.add_image(path, "Training loss, validation loss and validation metric per epoch")
    if best.parts:
        report.add_table([{"member": m["name"], "kind": m["kind"], "weight": round(m["weight"], 3)}
                          for m in best.parts], caption="The ensemble's members and their weights")
    metrics = best.test or best.val
    if "confusion_matrix" in metrics:
        classes = p.task_.classes
        report.add_image(plot_confusion(metrics["confusion_matrix"], classes, plots / "confusion.png"),
                         "Confusion matrix (rows: true class), normalised per row")
        logits = p.eval_logits_.get(best.name)
        if logits is not None:
            proba = torch.softmax(logits, 1).numpy()
            report.add_image(plot_reliability(p.eval_targets_.numpy(), proba, plots / "reliability.png"),
                             "Reliability: predicted confidence against observed accuracy")
        if "per_class" in metrics:
            report.add_table([{"class": k, **v} for k, v in metrics["per_class"].items()],
                             caption="Per-class scores")


def _mattered(report: Report, p, plots: Path) -> None:
    rows = getattr(p, "mattered_", None)
    if not rows:
        return
    report.add_heading("Which modality mattered")
    path = plot_modality_importance(rows, plots / "mattered.png")
    report.add_image(path, f"The saved model ({p.best_.name}) on its {p.eval_split_} split (at most "
                           f"{explain.REPORT_ROWS} rows). Left: each modality's mean |Shapley value| toward the "
                           "predicted class's probability (the predicted value, for regression): exact over every "
                           "combination of shown modalities, since hiding one is exact with the presence masks. "
                           "Right: the metric's drop when a modality, or one column of a tabular group, is "
                           "shuffled across rows. `polymodal explain RUN TABLE` gives them per row.")


def _schema(report: Report, p) -> None:
    report.add_heading("Data")
    groups = {m: c.name for c in p.schema_.columns for m in c.members}
    report.add_table([{"column": c.name, "role": c.role,
                       "why": c.reason + (f": {', '.join(c.members)}" if c.members else "")
                       + (f" (in the `{groups[c.name]}` group)" if c.name in groups else "")}
                      for c in p.schema_.columns], caption=f"Schema of {p.schema_.source}")
