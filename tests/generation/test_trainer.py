"""The generative training loop: an interrupted fit resumed from its checkpoint ends exactly where an
uninterrupted one does."""

import pytest
import torch

from polymodal.generation.base import build_model
from polymodal.generation.trainer import GenData, train_generative


class Stop(Exception):
    pass


def data():
    g = torch.Generator().manual_seed(0)
    return GenData(torch.rand(24, 3, 16, 16, generator=g) * 2 - 1, torch.randn(24, 384, generator=g),
                   torch.arange(24) % 5)


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_resume_after_an_interrupt_matches_an_uninterrupted_run(name, tmp_path):
    def model():
        torch.manual_seed(0)
        return build_model(name, (3, 16, 16), z_dim=8, cond_dim=16, width=8)

    whole = model()
    straight = train_generative(whole, data(), epochs=4, batch_size=8, lr=1e-3, progress=False)

    def stop_at_epoch_2(epoch, row):
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):  # epochs 0 and 1 are checkpointed; epoch 2 dies before its checkpoint
        train_generative(model(), data(), epochs=4, batch_size=8, lr=1e-3, progress=False,
                         checkpoint_dir=tmp_path, on_epoch=stop_at_epoch_2)
    resumed_model = model()
    resumed = train_generative(resumed_model, data(), epochs=4, batch_size=8, lr=1e-3, progress=False,
                               checkpoint_dir=tmp_path, resume=True)
    assert resumed.resumed_from == 1 and resumed.steps == straight.steps
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in straight.history])
    for key, value in whole.state_dict().items():
        assert torch.allclose(value.float(), resumed_model.state_dict()[key].float(), atol=1e-6), key
