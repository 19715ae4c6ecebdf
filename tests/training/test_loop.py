import math

import pytest
import torch
from torch import nn

from polymodal.tasks import Classification
from polymodal.training.data import ArrayData
from polymodal.training.loop import train, warmup_cosine


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, inputs, masks):
        return self.net(inputs["x"] * masks["x"][:, None])


def toy(n=200, seed=0):
    import pandas as pd

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    task = Classification("y").fit(pd.Series(y.tolist()))
    data = ArrayData({"x": x}, {"x": torch.ones(n, dtype=torch.bool)}, y)
    return task, data.subset(torch.arange(0, 150)), data.subset(torch.arange(150, n))


class Interrupting(Classification):
    """Raises once it has taken `limit` training steps: a crash in the middle of an epoch."""

    def __init__(self, base: Classification, limit: int):
        self.__dict__.update(base.__dict__)
        self.limit, self.calls = limit, 0

    def step(self, logits, targets):
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls > self.limit:
                raise KeyboardInterrupt
        return super().step(logits, targets)


def test_warmup_then_cosine():
    f = warmup_cosine(100, 10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5))) and f(100) == pytest.approx(0.0)


def test_loss_goes_down_and_beats_chance():
    task, tr, va = toy()
    torch.manual_seed(0)
    model = Tiny()
    result, _ = train(model, task, tr, va, epochs=15, batch_size=16, lr=1e-2, progress=False)
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < 0.6 * losses[0]
    assert result.best_score > 0.85  # balanced accuracy, chance is 0.5


def test_same_seed_same_weights():
    def run():
        task, tr, va = toy()
        torch.manual_seed(0)
        model = Tiny()
        return train(model, task, tr, va, epochs=3, batch_size=16, seed=3, progress=False)[1]

    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_early_stopping_stops_after_patience():
    task, tr, va = toy()
    torch.manual_seed(0)
    result, _ = train(Tiny(), task, tr, va, epochs=50, batch_size=16, lr=0.0, patience=2, progress=False)
    assert len(result.history) == 3  # first epoch sets the best, two without improvement stop it


def test_resume_after_a_crash_mid_epoch_matches_an_uninterrupted_run(tmp_path):
    task, tr, va = toy()
    torch.manual_seed(0)
    full, full_best = train(Tiny(), task, tr, va, epochs=6, batch_size=16, seed=1, progress=False,
                            checkpoint_dir=tmp_path / "a")
    torch.manual_seed(0)
    crashing = Interrupting(task, limit=10 * 3 + 4)  # 10 steps an epoch: dies 4 steps into epoch 4
    with pytest.raises(KeyboardInterrupt):
        train(Tiny(), crashing, tr, va, epochs=6, batch_size=16, seed=1, progress=False,
              checkpoint_dir=tmp_path / "b")
    torch.manual_seed(123)  # a fresh process: different initial weights, restored from the checkpoint
    resumed, resumed_best = train(Tiny(), task, tr, va, epochs=6, batch_size=16, seed=1, progress=False,
                                  checkpoint_dir=tmp_path / "b", resume=True)
    assert resumed.resumed_from == 2  # epochs 0-2 were checkpointed; epoch 3 is redone
    assert [r["train_loss"] for r in resumed.history] == pytest.approx([r["train_loss"] for r in full.history])
    assert all(torch.equal(full_best[k], resumed_best[k]) for k in full_best)
    assert not list((tmp_path / "b").glob(".*tmp*"))  # no half-written files left behind


@pytest.mark.parametrize("clip", [0.05, 0.0])
def test_gradient_norm_is_clipped_before_every_step(clip):
    """Every optimizer step sees a total gradient norm of at most `clip`; without clipping (0) the same
    training has larger ones, so the check can fail."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    task, tr, va = toy()
    norms = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    handle = register_optimizer_step_pre_hook(record)
    try:
        torch.manual_seed(0)
        train(Tiny(), task, tr, va, epochs=3, batch_size=32, lr=1e-2, clip=clip, progress=False)
    finally:
        handle.remove()
    assert len(norms) == 3 * 5
    if clip:
        assert max(norms) <= clip * (1 + 1e-4)
    else:
        assert max(norms) > 0.05
