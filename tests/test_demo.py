"""The main job end to end on tiny data: every section of the one report is there."""

import json

import pytest
from rich.console import Console

from polymodal.demo import run_demo


@pytest.mark.slow
def test_demo_writes_one_report_with_every_section(tmp_path):
    result = run_demo(tmp_path / "demo", Console(quiet=True), size=120, epochs=2, fusion="concat,gated",
                      shapes_size=80)
    html = (tmp_path / "demo" / "report.html").read_text()
    for heading in ("Fused classifier", "Alignment: search handwritten digits by voice", "Captioning"):
        assert heading in html
    assert html.count("<img") >= 4  # plots, search hits and the caption sheet are embedded
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["best"] in ("concat", "gated") and 0.0 <= summary["caption_bleu_4"] <= 1.0
    assert (tmp_path / "demo" / "caption" / "polymodal.json").exists() and result["seconds"] > 0
