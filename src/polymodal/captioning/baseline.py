"""The nearest-neighbour caption baseline: copy the caption of the most similar training input.

A simplified form of Devlin et al. 2015, "Exploring Nearest Neighbor Approaches for Image
Captioning" (one neighbour by cosine of pooled features, no consensus re-ranking). It needs no
training and is strong wherever test inputs look like training inputs, so a caption model is
only worth having when it beats this.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class NearestCaption:
    """`features` [N, D] of the training inputs and their captions. They are kept L2-normalised in
    float16 (what a run directory stores), so a loaded baseline answers exactly like the fitted one."""

    def __init__(self, features: torch.Tensor, captions: list[str], *, normalized: bool = False):
        self.features = (features if normalized else F.normalize(features.float(), dim=-1)).half()
        self.captions = list(captions)

    def neighbours(self, features: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        """Index of the most similar training row for each query row."""
        queries, keys = F.normalize(features.float(), dim=-1), self.features.float()
        return torch.cat([(queries[i:i + batch] @ keys.T).argmax(1) for i in range(0, len(queries), batch)]
                         ) if len(queries) else torch.empty(0, dtype=torch.long)

    def predict(self, features: torch.Tensor) -> list[str]:
        return [self.captions[i] for i in self.neighbours(features).tolist()]
