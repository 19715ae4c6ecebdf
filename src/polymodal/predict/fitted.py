"""`FittedModel`: the base of candidates fitted outside the training loop (gradient-boosted trees,
nearest neighbours). It answers like a `MultimodalModel` (`modalities`, `forward(inputs, masks) -> logits`),
so scoring, ensembling, the robustness table, saving and serving treat it as any model.

Its buffers are sized by the rows it was fitted on (a neighbour bank, a serialised booster), which a
model rebuilt from model.json cannot know: loading takes each buffer's shape from the saved tensor.
"""

from __future__ import annotations

from torch import nn

from ..errors import PolymodalError


class FittedModel(nn.Module):
    def __init__(self, columns: list[str]):
        super().__init__()
        if not columns:
            raise PolymodalError("a classical candidate needs at least one column with fixed features")
        self.columns = sorted(columns)

    @property
    def modalities(self) -> list[str]:
        return list(self.columns)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name, buf in list(self._buffers.items()):
            saved = state_dict.get(prefix + name)
            if buf is not None and saved is not None and saved.shape != buf.shape:
                self._buffers[name] = buf.new_empty(saved.shape)
        self.loaded()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def loaded(self) -> None:
        """Called when weights are loaded: drop anything derived from the old buffers."""


CLASSICAL_LIMIT = ("it is a classical model ({name}) fitted outside PyTorch: it has no fused representation "
                   "to embed. Refit with classical='linear' or 'none' (--classical) for a "
                   "model that has one.")


def check_neural(model: nn.Module, what: str) -> None:
    """Refuse `what` (embedding rows) for a classical model, or an ensemble holding one."""
    members = getattr(model, "members", [model])
    fitted = [m for m in members if isinstance(m, FittedModel)]
    if fitted:
        raise PolymodalError(f"cannot {what}: the saved model is or holds "
                             + CLASSICAL_LIMIT.format(name=type(fitted[0]).__name__))
