import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from polymodal import PolymodalError
from polymodal.tasks import Classification, MultiLabel, MultiTask, Regression, focal_loss, make_task, task_from_state


def test_single_class_label_is_a_clear_error():
    with pytest.raises(PolymodalError, match="label column 'y' has only one class"):
        Classification("y").fit(pd.Series(["a", "a", None]))


def test_classes_sort_naturally_and_balanced_weights():
    task = Classification("y", imbalance="weighted").fit(pd.Series(["10", "2", "2", "2", "1"]))
    assert task.classes == ["1", "2", "10"]
    assert torch.allclose(task.class_weight, torch.tensor([5 / 3, 5 / 9, 5 / 3]))
    assert task.encode(pd.Series(["2", "x", None])).tolist() == [1, -1, -1]


def test_focal_loss_reduces_to_cross_entropy_at_gamma_zero_and_downweights_easy_rows():
    logits = torch.tensor([[4.0, 0.0], [0.2, 0.1], [0.0, 3.0]])
    target = torch.tensor([0, 1, 1])
    assert torch.allclose(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))
    assert focal_loss(logits, target, gamma=2.0) < F.cross_entropy(logits, target)


def test_sampler_weights_only_with_sampler_option():
    targets = torch.tensor([0, 0, 0, 1])
    plain = Classification("y").fit(pd.Series(["a", "a", "a", "b"]))
    assert plain.sample_weights(targets) is None
    sampler = Classification("y", imbalance="sampler").fit(pd.Series(["a", "a", "a", "b"]))
    w = sampler.sample_weights(targets)
    assert float(w[3]) == pytest.approx(3 * float(w[0]))


def test_regression_standardises_and_maps_back():
    task = Regression("y").fit(pd.Series([10.0, 20.0, 30.0]))
    t = task.encode(pd.Series([10.0, 30.0]))
    assert torch.allclose(t, torch.tensor([-1.0, 1.0]))
    assert task.predict(t[:, None]).iloc[:, 0].tolist() == pytest.approx([10.0, 30.0])
    assert task.metrics(t[:, None], t)["rmse"] == pytest.approx(0.0)


def test_multilabel_cells_as_lists_or_pipes():
    task = MultiLabel("tags").fit(pd.Series([["a", "b"], "b|c", None]))
    assert task.labels == ["a", "b", "c"]
    assert task.encode(pd.Series(["a|c", None])).tolist() == [[1, 0, 1], [0, 0, 0]]
    pred = task.predict(torch.tensor([[5.0, -5.0, 5.0]]))
    assert pred["tags"].tolist() == ["a|c"]


def test_make_task_infers_kinds_and_multitask_sums_weighted_losses():
    df = pd.DataFrame({"c": ["x", "y"] * 20, "r": np.linspace(0, 1, 40), "m": ["a|b", "b"] * 20})
    assert isinstance(make_task(df, ["c"]), Classification)
    assert isinstance(make_task(df, ["r"]), Regression)
    assert isinstance(make_task(df, ["m"]), MultiLabel)
    multi = make_task(df, ["c", "r"], weights=[1.0, 0.5])
    assert isinstance(multi, MultiTask) and multi.out_dim == 3
    targets = multi.encode(df)
    logits = torch.randn(40, 3)
    expected = (F.cross_entropy(logits[:, :2], targets["c"]) + 0.5 * F.mse_loss(logits[:, 2], targets["r"]))
    assert torch.allclose(multi.step(logits, targets).loss, expected)
    assert "mean_monitor" in multi.metrics(logits, targets)


@pytest.mark.parametrize("labels", [["c"], ["r"], ["m"], ["c", "r"]])
def test_state_round_trips_through_json(labels):
    import json

    df = pd.DataFrame({"c": ["x", "y"] * 20, "r": np.linspace(0, 1, 40), "m": ["a|b", "b"] * 20})
    task = make_task(df, labels)
    again = task_from_state(json.loads(json.dumps(task.state())))
    logits = torch.randn(5, task.out_dim)
    pd.testing.assert_frame_equal(task.predict(logits), again.predict(logits))


def test_cheap_monitor_values_agree_with_the_full_metrics():
    df = pd.DataFrame({"c": ["x", "y", "y", "z"] * 10, "r": np.linspace(0, 5, 40), "m": ["a|b", "b", "a", "c"] * 10})
    for labels in (["c"], ["r"], ["c", "r", "m"]):  # the last: several labels at once, one of them multi-label
        task = make_task(df, labels)
        label = labels[0] if len(labels) == 1 else labels
        targets = task.encode(df[label])
        logits = torch.randn(40, task.out_dim, generator=torch.Generator().manual_seed(1))
        assert task.monitor_value(logits, targets) == pytest.approx(task.metrics(logits, targets)[task.monitor])
