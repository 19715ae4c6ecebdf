"""Every trainer refuses settings that cannot train, before it reads the table."""

import numpy as np
import pytest

from polymodal import PolymodalError
from polymodal.alignment.aligner import Aligner
from polymodal.captioning.captioner import Captioner
from polymodal.generation.generator import Generator
from polymodal.training.settings import check_settings


def test_every_bad_setting_is_named_at_once():
    with pytest.raises(PolymodalError) as err:
        check_settings(epochs=0, batch_size=32, lr=float("inf"), dropout=-0.5)
    text = str(err.value)
    assert "epochs=0 (an integer >= 1)" in text and "lr=inf (a number > 0)" in text
    assert "dropout=-0.5 (in [0, 1))" in text and "batch_size" not in text


@pytest.mark.parametrize("value", [True, 3.0, "8", None])
def test_integers_must_be_integers(value):
    with pytest.raises(PolymodalError, match=r"epochs=.* \(an integer >= 1\)"):
        check_settings(epochs=value)


def test_numpy_numbers_are_accepted():
    check_settings(epochs=np.int64(3), batch_size=np.int32(16), lr=np.float32(1e-3), dropout=np.float64(0.0))


def test_a_setting_without_a_rule_is_a_programming_error():
    with pytest.raises(TypeError, match="no rule for setting"):
        check_settings(momentum=0.9)


@pytest.mark.parametrize("make", [
    lambda: Aligner(["image", "caption"], batch_size=0),
    lambda: Aligner(["image", "caption"], temperature=0.0),
    lambda: Captioner(epochs=0),
    lambda: Captioner(label_smoothing=1.0),
    lambda: Generator(epochs=0),
    lambda: Generator(batch_size=0),
    lambda: Generator(lr=-1.0),
])
def test_every_trainer_refuses_before_reading(make, tmp_path):
    with pytest.raises(PolymodalError, match=r"invalid training setting\(s\)"):  # the generator: at construction
        make().fit(tmp_path / "no-such-table.csv")
