"""RUN/log.csv while a fit runs: rows appended and flushed, new columns widen the file, a resumed fit's
repeated epoch replaces its row; TensorBoard events beside it when asked."""

import pandas as pd
import pytest

from polymodal.errors import PolymodalError
from polymodal.runs import log as log_module
from polymodal.runs.log import EpochLog


def test_rows_are_on_disk_as_soon_as_they_are_logged(tmp_path):
    log = EpochLog(tmp_path / "log.csv")
    log.log("concat", {"epoch": 0, "train_loss": 0.5})
    assert pd.read_csv(tmp_path / "log.csv").to_dict("records") == [
        {"stage": "concat", "epoch": 0, "train_loss": 0.5}]  # readable mid-fit, before close
    log.stage("concat")({"epoch": 1, "train_loss": 0.25, "val_accuracy": 0.75})  # a new column widens the file
    log.log("gated", {"epoch": 0, "train_loss": 0.75})
    df = pd.read_csv(tmp_path / "log.csv")
    assert list(df.columns) == ["stage", "epoch", "train_loss", "val_accuracy"]
    assert df["stage"].tolist() == ["concat", "concat", "gated"] and df["val_accuracy"].isna().tolist() == [
        True, False, True]


def test_a_resumed_fit_replaces_the_epoch_it_logs_again_and_a_new_fit_starts_empty(tmp_path):
    first = EpochLog(tmp_path / "log.csv")
    for epoch in range(3):
        first.log("concat", {"epoch": epoch, "train_loss": 1.0 / (epoch + 1)})
    resumed = EpochLog(tmp_path / "log.csv", resume=True)  # killed after epoch 2's row, before its checkpoint
    resumed.log("concat", {"epoch": 2, "train_loss": 0.3})
    resumed.log("concat", {"epoch": 3, "train_loss": 0.2})
    df = pd.read_csv(tmp_path / "log.csv")
    assert df["epoch"].tolist() == [0, 1, 2, 3] and df["train_loss"].tolist()[2:] == [0.3, 0.2]
    EpochLog(tmp_path / "log.csv")  # a new fit: the old rows are not its own
    assert not (tmp_path / "log.csv").exists()


def test_tensorboard_events_are_written_beside_the_log(tmp_path):
    pytest.importorskip("tensorboard")
    log = EpochLog(tmp_path / "log.csv", tensorboard=True)
    log.log("concat", {"epoch": 0, "train_loss": 0.5, "val_accuracy": 0.7})
    log.close()
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_tensorboard_missing_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "torch.utils.tensorboard":
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(PolymodalError, match=r"pip install 'polymodal\[tensorboard\]'"):
        log_module.EpochLog(tmp_path / "log.csv", tensorboard=True)
