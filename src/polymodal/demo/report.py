"""The demo's single report: the fused classifier's comparison and robustness, the alignment's
retrieval quality with example queries and their top hits as images, then captions of scenes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from ..alignment.search import build_index, search
from ..report.html import Report
from ..report.plots import image_grid


def _classification(report: Report, predictor, run_dir: Path) -> None:
    report.add_heading("Fused classifier: every fusion against each modality alone")
    best = predictor.best_
    report.add_text(f"Best fusion on validation: **{best.name}**, test accuracy "
                    f"{best.test.get('accuracy', float('nan')):.3f}. Full report: `{run_dir / 'report.html'}`.")
    for name, caption in (("comparison.png", "Test balanced accuracy of every candidate"),
                          ("missing_modality.png", "With each modality removed from every row"),
                          ("mattered.png", "Which modality mattered to the chosen model: mean |Shapley value| per "
                                           "modality (exact, through the presence masks) and the metric's drop when "
                                           "a modality is shuffled"),
                          ("confusion.png", "Confusion matrix of the chosen model")):
        if (run_dir / "plots" / name).exists():
            report.add_image(run_dir / "plots" / name, caption)
    report.add_table(predictor.comparison_, caption="Candidates", highlight_max=[
        c for c in predictor.comparison_.columns if c.startswith(("val_", "test_"))])


def _student(report: Report, predictor, student) -> None:
    d = student.distilled_ or {}
    report.add_heading("Distillation: an image-only student of the fused model")
    report.add_text("Where the sound is missing at serving time, a model that reads the image alone is needed. The "
                    "student (concat over the image's features) is fitted twice: plainly, and learning from the fused "
                    "teacher's soft predictions too (Hinton et al. 2015, `NAME+teacher`); the better on validation is "
                    f"kept: **{student.best_.name}**. Full report: `{student.run_dir_ / 'report.html'}`.")
    rows = [{"model": f"teacher ({predictor.best_.name}, image + audio)",
             "test accuracy": predictor.best_.test.get("accuracy"),
             "size MB": d.get("teacher_footprint", {}).get("size_mb"),
             "ms a row": d.get("teacher_footprint", {}).get("ms_per_row")}]
    for c in student.candidates_:
        row = {"model": f"student {c.name} (image only)", "test accuracy": c.test.get("accuracy")}
        if c.name == student.best_.name:
            row |= {"size MB": d.get("student_footprint", {}).get("size_mb"),
                    "ms a row": d.get("student_footprint", {}).get("ms_per_row")}
        rows.append(row)
    report.add_table(rows, caption="Teacher and students on the test split (latency: predict_proba end to end, "
                                   "reading cached features)")


def _retrieval_rows(metrics: dict) -> list[dict]:
    rows = []
    for entry in metrics["pairs"].values():
        for name, scores in (entry.get("methods") or {"learned": entry["learned"]}).items():
            served = " (served)" if name == metrics.get("method") else ""
            for direction, m in scores.items():
                rows.append({"direction": direction, "method": name + served, "R@1": m["recall@1"],
                             "R@5": m["recall@5"], "R@10": m["recall@10"], "chance R@1": m["chance_recall@1"],
                             "MRR": m["mrr"]})
    return rows


def _examples(report: Report, aligner, table_path: Path, query_col: str, hit_col: str, label: str) -> None:
    df = pd.read_parquet(table_path)
    test = df[df["split"] == "test"]
    index = build_index(aligner, test.assign(**{hit_col: [str(table_path.parent / p) for p in test[hit_col]]}),
                        hit_col)
    picks = test.groupby(label, sort=True).head(1).head(4)
    with tempfile.TemporaryDirectory() as tmp:
        for _, row in picks.iterrows():
            hits = search(index, aligner=aligner, **{query_col: str(table_path.parent / row[query_col])}, k=8)
            grid = image_grid(hits[hit_col].tolist(), [f"{h[label]} ({h['score']:.2f})" for _, h in hits.iterrows()],
                              Path(tmp) / f"q{row.name}.png", cols=8)
            report.add_audio(table_path.parent / row[query_col], f"query: the spoken {row[label]}")
            report.add_image(grid, f"top 8 handwritten digits for the spoken {row[label]} (label and cosine)")


def _captioning(report: Report, shapes) -> None:
    from ..captioning.evaluation import comparison_rows
    from ..captioning.report import add_caption_examples

    c = shapes.captioner
    report.add_heading("Captioning: describe a scene in words")
    report.add_text(f"A GRU decoder with attention over a 4x4 grid of EfficientNet-Lite0 features, trained on "
                    f"the `shapes` scenes in {c.train_seconds_:.0f} s. The nearest-neighbour baseline copies "
                    "the caption of the most similar training image. Full report: "
                    f"`{c.run_dir_ / 'report.html'}`.")
    rows = comparison_rows(c.metrics_, "gru (beam 3)")
    report.add_table(rows, caption="Test split", highlight_max=[k for k in rows[0] if k not in (
        "captioner", "mean_length")])
    add_caption_examples(report, c, shapes.table, n=6)


ATTRIBUTES = ("shape", "color", "size", "position")


def _generation(report: Report, shapes) -> None:
    from ..generation.report import add_generation_section

    report.add_heading("Generation: a picture and a sound from a sentence")
    report.add_text("Conditional VAEs (Sohn et al. 2015) from the MiniLM embedding of a caption to the scene's "
                    "image (32x32) and to its sound (a log-mel spectrogram of 32 bands x 32 frames, turned into a "
                    "waveform by Griffin-Lim). Judged objectively: classifiers trained on real `shapes` files read the "
                    "attributes of generated samples for held-out captions; their accuracy on real files is "
                    "shown beside it, the ceiling of what they can confirm.")
    rows = []
    for role, g in shapes.generators.items():
        m = g.metrics_
        row = {"generated": role, "epochs": len(g.history_), "train s": round(g.train_seconds_)}
        for a in ATTRIBUTES:
            if f"attribute_accuracy_{a}" in m:
                row[f"{a} (generated)"] = m[f"attribute_accuracy_{a}"]
                row[f"{a} (real)"] = m.get(f"reader_real_accuracy_{a}", float("nan"))
        rows.append(row)
    report.add_table(rows, caption="Attribute accuracy on held-out prompts: generated samples vs real files")
    for role, g in shapes.generators.items():
        prompts = g.preview_prompts_[:4]
        add_generation_section(report, g, prompts, n=6 if role == "image" else 2, seed=0,
                               heading=f"Generated {role}s (full report: `{g.run_dir_ / 'report.html'}`)")


def write_demo_report(out: Path, predictor, run_dir: Path, aligner, table_path: Path, shapes=None,
                      student=None) -> Path:
    report = Report("polymodal demo: audio-visual digits")
    report.add_text("Real handwritten MNIST digits (70% of their energy removed, AV-MNIST style) paired with "
                    "spoken digits (eSpeak NG voices at 5 dB SNR; the test split speaks with an accent no "
                    "training row has). Neither modality alone is enough; fusion and alignment show what "
                    "combining them gives.")
    _classification(report, predictor, run_dir)
    if student is not None:
        _student(report, predictor, student)
    report.add_heading("Alignment: search handwritten digits by voice")
    report.add_text(f"A shared space for `audio` and `image` trained contrastively in "
                    f"{aligner.train_seconds_:.1f} s; every test row of the same digit is a correct answer. "
                    "ASIF is the training-free baseline (relative representations through the training pairs).")
    report.add_table(_retrieval_rows(aligner.metrics_), highlight_max=["R@1", "R@5", "R@10", "MRR"],
                     caption="Retrieval on the test split")
    _examples(report, aligner, table_path, "audio", "image", "label")
    if shapes is not None and shapes.captioner is not None:
        _captioning(report, shapes)
    if shapes is not None and shapes.generators:
        _generation(report, shapes)
    return report.write(out / "report.html")
