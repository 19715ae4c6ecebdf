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


class CountingTask(Classification):
    def __init__(self, base: Classification):
        self.__dict__.update(base.__dict__)
        self.steps = 0

    def step(self, logits, targets):
        self.steps += torch.is_grad_enabled()
        return super().step(logits, targets)


@pytest.mark.parametrize(("n", "batch_size"), [(150, 16), (145, 16), (33, 16), (1, 16), (5, 1)])
def test_steps_per_epoch_counts_the_steps_taken(n, batch_size):
    from polymodal.training.loop import steps_per_epoch

    task, tr, _ = toy()
    counting = CountingTask(task)
    train(Tiny(), counting, tr.subset(torch.arange(n)), None, epochs=2, batch_size=batch_size, progress=False)
    assert counting.steps == 2 * steps_per_epoch(n, batch_size)
    assert steps_per_epoch(150, 16) == 10 and steps_per_epoch(145, 16) == 9  # a trailing batch of one: skipped


def test_batch_size_one_trains():
    task, tr, va = toy()
    torch.manual_seed(0)
    result, _ = train(Tiny(), task, tr, va, epochs=4, batch_size=1, lr=3e-3, progress=False)
    assert result.best_score > 0.85  # it used to skip every batch of one and learn nothing


def test_progress_bar_moves_step_by_step_with_the_live_loss(monkeypatch):
    import io
    import sys

    import polymodal.training.loop as loop

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setattr(loop, "LIVE_SECONDS", 0.0)  # every step reads the loss
    wide = loop.tqdm  # every update drawn, on a line wide enough for the whole postfix
    monkeypatch.setattr(loop, "tqdm", lambda **kw: wide(**{**kw, "mininterval": 0, "dynamic_ncols": False,
                                                            "ncols": 300}))
    task, tr, va = toy()
    train(Tiny(), task, tr, va, epochs=2, batch_size=50, progress=True, desc="fitting")
    text = screen.getvalue()
    assert "fitting 1/2" in text and "fitting 2/2" in text
    assert all(f" {i}/6 " in text for i in range(1, 7))  # 3 steps an epoch, counted one by one across epochs
    assert "loss=" in text and "val_balanced_accuracy=" in text


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_a_damaged_checkpoint_is_a_clear_error_on_resume(tmp_path, damage):
    from polymodal import PolymodalError

    task, tr, va = toy()
    train(Tiny(), task, tr, va, epochs=2, batch_size=16, progress=False, checkpoint_dir=tmp_path)
    weights = next(tmp_path.glob("epoch*.model.safetensors"))
    if damage == "delete":
        weights.unlink()
    else:
        weights.write_bytes(b"garbage")
    with pytest.raises(PolymodalError, match=r"checkpoint to resume from is damaged or incomplete.*without --resume"):
        train(Tiny(), task, tr, va, epochs=3, batch_size=16, progress=False, checkpoint_dir=tmp_path, resume=True)
