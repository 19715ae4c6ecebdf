"""`polymodal explain`: which modality drove a predictor run's predictions on a table (predict/explain.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import PolymodalError
from .common import console


def cmd_explain(args: argparse.Namespace) -> int:
    from ..api import load
    from ..predict.predictor import Predictor
    from ..report.html import Report
    from ..report.plots import plot_modality_importance

    model = load(args.run)
    if not isinstance(model, Predictor):
        raise PolymodalError(f"{args.run} is a {model.kind} run; explain covers predictor runs")
    result = model.explain(args.table, rows=args.rows)
    contributions, permutation = result["contributions"], result["permutation"]
    if args.json:
        print(json.dumps({"mean_abs_shapley": result["mean_abs"].to_dict(),
                          "permutation": None if permutation is None else permutation.to_dict(orient="records"),
                          "rows": contributions.to_dict(orient="records")}, indent=2))
        return 0
    out = Path(args.output)
    report = Report(f"polymodal explain: {args.run} on {args.table}")
    report.add_text(f"{len(contributions)} row(s). Each row's Shapley values over modalities add up, with the base "
                    "value (nothing shown), to its prediction (the predicted class's probability, or the predicted "
                    "value): exact over every combination of shown modalities, up to 8 modalities.")
    if permutation is not None:
        rows = permutation.to_dict(orient="records")
        for r in rows:
            r["mean_abs_shapley"] = result["mean_abs"].get(r["column"]) if r["column"] == r["modality"] else None
        out.parent.mkdir(parents=True, exist_ok=True)
        plots = out.with_name(out.stem + "_plots")
        plots.mkdir(exist_ok=True)
        report.add_image(plot_modality_importance(rows, plots / "importance.png"), "Mean |Shapley value| and "
                         "permutation importance per modality (and per column of a tabular group)")
        report.add_table(permutation.round(4), caption="Permutation importance")
    report.add_table(result["mean_abs"].rename("mean |Shapley value|").round(4).reset_index(), caption="Per modality")
    report.add_table(contributions.head(200).round(4), caption="Per row (the first 200)")
    if args.image_maps:
        _image_maps(report, model, args, out)
    report.write(out)
    console.print("mean |Shapley value|: " + ", ".join(f"{k} {v:.3f}" for k, v in result["mean_abs"].items()))
    console.print(f"explanations of {len(contributions)} row(s) written to {out}")
    return 0


def _image_maps(report, model, args, out: Path) -> None:
    from ..predict.image_maps import overlay

    maps = model.image_maps(args.table, rows=args.image_maps)
    report.add_heading("Where in the image")
    report.add_text("Per row and image column, which pixels raised (red) or lowered (blue) the probability of the "
                    "predicted class: integrated gradients where the model reads pixels, occlusion through the "
                    "frozen encoder where it reads cached features (predict/image_maps.py).")
    folder = out.with_name(out.stem + "_plots")
    for item in maps:
        path = overlay(item, folder / f"map-{item['column']}-{item['row']}.png")
        report.add_image(path, f"row {item['row']}, `{item['column']}` ({Path(item['file']).name}): predicted "
                               f"{item['predicted']}, {item['method']}")


def add_parser(sub) -> None:
    p = sub.add_parser("explain", help="which modality drove a predictor run's predictions on a table")
    p.add_argument("run")
    p.add_argument("table")
    p.add_argument("--rows", type=int, help="explain the first N rows only")
    p.add_argument("-o", "--output", default="explain.html", metavar="HTML", help="the report (default explain.html)")
    p.add_argument("--json", action="store_true", help="print the values as JSON instead")
    p.add_argument("--image-maps", type=int, metavar="N", help="also draw, for the first N rows, where in each image "
                   "the prediction came from (Captum: integrated gradients on a trainable encoder, occlusion through "
                   "a frozen one)")
    p.set_defaults(func=cmd_explain)
