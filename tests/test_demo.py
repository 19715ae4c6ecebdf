"""The main job end to end on tiny data: every section of the one report is there."""

import json

import pytest
from rich.console import Console

from polymodal.demo import run_demo


@pytest.mark.slow
def test_demo_writes_one_report_with_every_section(tmp_path):
    # tiny data and short attribute readers: the sections and their wiring, not the demo's figures
    result = run_demo(tmp_path / "demo", Console(quiet=True), size=120, epochs=2, fusion="concat,gated",
                      shapes_size=80, reader_steps={"image": 100, "audio": 60})
    html = (tmp_path / "demo" / "report.html").read_text()
    for heading in ("Fused classifier", "Distillation: an image-only student", "Which modality mattered",
                    "Alignment: search handwritten digits by voice", "Captioning",
                    "Generation: a picture and a sound from a sentence"):
        assert heading in html
    assert html.count("<img") >= 8  # plots, search hits, the caption sheet and generated grids are embedded
    assert html.count("<audio") >= 2 + 4  # spoken queries and generated sounds (4 prompts) are playable
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["best"] in ("concat", "gated", "linear-probe", "ensemble")
    assert 0.0 <= summary["caption_bleu_4"] <= 1.0 and 0.0 <= summary["student_test_accuracy"] <= 1.0
    generated = summary["generation_attribute_accuracy"]
    assert set(generated) == {"image", "audio"} and all(0.0 <= v <= 1.0 for v in generated["image"].values())
    for run in ("student", "caption", "generate-image", "generate-audio"):
        assert (tmp_path / "demo" / run / "polymodal.json").exists()
    assert result["seconds"] > 0
