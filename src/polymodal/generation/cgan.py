"""Conditional GAN with a matching-aware discriminator (GAN-CLS), and its unconditional twin.

Reed et al. 2016, "Generative Adversarial Text to Image Synthesis": a DCGAN (Radford et al.
2016) whose generator reads noise plus a compressed sentence embedding (which also sets the scale
and shift of every batch norm, see nets.ConditionalNorm), and whose
discriminator sees the embedding replicated over its smallest feature grid. The
discriminator is *matching-aware*: besides real images with their text (real) and generated
images with their text (fake), it sees real images with another row's text and must call
them fake too, so it learns whether image and text agree, not only whether the image looks real.

Stabilisers (established, each cheap): spectral normalisation of every discriminator layer
(Miyato et al. 2018), the hinge loss (Lim & Ye 2017; Miyato et al. 2018), Adam with beta1 = 0 and a
discriminator learning rate four times the generator's (the two time-scale update rule, Heusel et
al. 2017, with the settings of Zhang et al. 2019 and Brock et al. 2019; on shapes they formed shapes
sooner than DCGAN's beta1 = 0.5 and equal rates), and an exponential moving average of the
generator's weights used for sampling (Karras et al. 2018; Yazıcı et al. 2019) whose batch-norm
statistics are measured afresh after every epoch ("standing statistics", Brock et al. 2019).

The unconditional model is the same GAN with the text removed from both players: the baseline
that says what conditioning adds.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..training.data import take
from .base import Batch, Cond, GenerativeModel, register_model, roll
from .conditioning import TextEmbedder
from .nets import DownEncoder, UpDecoder

STANDING_BATCHES = 16


class GeneratorNet(nn.Module):
    """Noise (and the prompt) -> sample in [-1, 1]."""

    def __init__(self, shape, z_dim: int, cond_dim: int, width: int, text_encoder: str, tokenizer: str,
                 conditional: bool):
        super().__init__()
        self.text = TextEmbedder(text_encoder, cond_dim, tokenizer=tokenizer) if conditional else None
        self.decoder = UpDecoder(z_dim + (cond_dim if conditional else 0), shape, width,
                                 cond_dim=cond_dim if conditional else 0)

    def forward(self, z: torch.Tensor, cond: Cond | None) -> torch.Tensor:
        if self.text is None:
            return self.decoder(z)
        c = self.text(cond)
        return self.decoder(torch.cat([z, c], dim=1), c)


class Discriminator(nn.Module):
    """Sample (and the prompt's vector) -> one score; higher means real and matching.

    The prompt enters by projection (Miyato & Koyama 2018, "cGANs with Projection Discriminator"):
    score = w . phi(x) + t(text) . phi(x), with phi(x) the flattened smallest feature grid, so the
    text is compared with every cell (what sits where), not only appended as more input channels."""

    def __init__(self, shape, cond_dim: int, width: int, text_encoder: str, tokenizer: str, conditional: bool):
        super().__init__()
        self.features = DownEncoder(shape, 2 * width, spectral=True)  # DCGAN's D is twice G's final width
        self.text = TextEmbedder(text_encoder, cond_dim, tokenizer=tokenizer, spectral=True) if conditional else None
        flat = self.features.out_channels * math.prod(self.features.base)
        self.score = spectral_norm(nn.Linear(flat, 1))
        self.project = spectral_norm(nn.Linear(cond_dim, flat, bias=False)) if conditional else None

    def forward(self, x: torch.Tensor, text: torch.Tensor | None) -> torch.Tensor:
        f = self.features(x).flatten(1)
        score = self.score(f).squeeze(1)
        if self.project is not None:
            score = score + (self.project(text) * f).sum(1)
        return score


@register_model("cgan")
class ConditionalGAN(GenerativeModel):
    def __init__(self, shape, *, text_encoder: str = "minilm", tokenizer: str = "", z_dim: int = 64,
                 cond_dim: int = 128, width: int = 32, ema_decay: float = 0.999, mismatch_weight: float = 0.5,
                 beta1: float = 0.0, d_lr_scale: float = 4.0, diversity_weight: float = 0.1):
        super().__init__(shape, text_encoder=text_encoder, tokenizer=tokenizer, z_dim=z_dim, cond_dim=cond_dim,
                         width=width)
        self.ema_decay, self.mismatch_weight = float(ema_decay), float(mismatch_weight)
        self.beta1, self.d_lr_scale, self.diversity_weight = float(beta1), float(d_lr_scale), float(diversity_weight)
        args = (self.shape, self.z_dim, self.cond_dim, self.width, text_encoder, tokenizer, self.conditional)
        self.generator = GeneratorNet(*args)
        self.discriminator = Discriminator(self.shape, *args[2:])
        self.ema = copy.deepcopy(self.generator).requires_grad_(False).eval()

    def options(self) -> dict:
        return {"ema_decay": self.ema_decay, "mismatch_weight": self.mismatch_weight, "beta1": self.beta1,
                "d_lr_scale": self.d_lr_scale, "diversity_weight": self.diversity_weight}

    def optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        """Adam for both players; `d_lr_scale` > 1 gives the discriminator a larger step (the two time-scale
        update rule, Heusel et al. 2017)."""
        betas = (self.beta1, 0.999)
        return {"generator": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
                "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr * self.d_lr_scale,
                                                  betas=betas)}

    def _text(self, cond: Cond) -> torch.Tensor | None:
        return self.discriminator.text(cond) if self.conditional else None

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], step: int) -> dict[str, float]:
        x, cond, keys = batch
        n = len(x)
        pairs = self.diversity_weight > 0 and n >= 2
        # Mode seeking: the generator draws each prompt of the batch's first half twice, with two noises.
        g_rows = torch.arange(n // 2).repeat(2) if pairs else torch.arange(n)
        g_cond = take(cond, g_rows)
        z = torch.randn(len(g_rows), self.z_dim, device=x.device)
        fake = self.generator(z, g_cond)
        m = len(fake)
        # Discriminator: hinge loss on real/matching, generated, and (conditional) real with another row's
        # prompt, in one forward pass: one large batch runs faster on a CPU than three small ones.
        text = self._text(cond)
        other = keys != keys.roll(1)  # rows whose shifted prompt is really another text
        wrong = self.conditional and self.mismatch_weight > 0 and bool(other.any())
        images = torch.cat([x, fake.detach(), x] if wrong else [x, fake.detach()])
        texts = None if text is None else torch.cat([text, text[g_rows], roll(text)] if wrong else [text, text[g_rows]])
        scores = self.discriminator(images, texts)
        loss_real, loss_fake = F.relu(1 - scores[:n]).mean(), F.relu(1 + scores[n:n + m]).mean()
        loss_d, loss_wrong = loss_real + loss_fake, torch.zeros(())
        if wrong:
            loss_wrong = F.relu(1 + scores[n + m:][other]).mean()
            w = self.mismatch_weight
            loss_d = loss_real + (1 - w) * loss_fake + w * loss_wrong
        optimizers["discriminator"].zero_grad(set_to_none=True)
        loss_d.backward()
        optimizers["discriminator"].step()
        # Generator: raise the discriminator's score of its samples with their own prompts. The
        # discriminator's weights are held: no time spent on gradients nobody applies.
        self.discriminator.requires_grad_(False)
        try:
            loss_g = -self.discriminator(fake, self._text(g_cond)).mean()
            spread = self._spread(fake, z) if pairs else torch.zeros(())
            optimizers["generator"].zero_grad(set_to_none=True)
            (loss_g + self.diversity_weight / (spread + 1e-5) if pairs else loss_g).backward()
        finally:
            self.discriminator.requires_grad_(True)
        optimizers["generator"].step()
        self._update_ema(step)
        return {"loss": loss_d.item() + loss_g.item(), "d_loss": loss_d.item(), "g_loss": loss_g.item(),
                "d_real": loss_real.item(), "d_fake": loss_fake.item(), "d_mismatch": loss_wrong.item(),
                "spread": spread.item()}

    @staticmethod
    def _spread(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Mode seeking (Mao et al. 2019, "Mode Seeking Generative Adversarial Networks"): how far two
        samples of one prompt lie apart per unit of distance between their noises; the generator
        maximises it (minimises its reciprocal), so it cannot ignore z and draw one picture per prompt."""
        half = len(fake) // 2
        return (fake[:half] - fake[half:]).abs().mean() / (z[:half] - z[half:]).abs().mean()

    @torch.no_grad()
    def _update_ema(self, step: int) -> None:
        # A shorter memory at the start, so early samples are not an average of random weights.
        decay = min(self.ema_decay, (1 + step) / (10 + step))
        for e, p in zip(self.ema.parameters(), self.generator.parameters(), strict=True):
            e.lerp_(p.detach(), 1 - decay)

    @torch.no_grad()
    def end_epoch(self, cond: Cond) -> None:
        """Standing statistics (Brock et al. 2019): the averaged generator's batch-norm statistics are
        measured afresh on its own outputs, since neither the live generator's running averages (other
        weights) nor batch statistics (a sample would depend on its batch) fit it."""
        norms = [m for m in self.ema.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        g = torch.Generator().manual_seed(0)  # the same noise and prompts every time: deterministic
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
        self.ema.train()
        n = len(cond)
        for _ in range(STANDING_BATCHES):
            rows = torch.randint(0, n, (min(n, 64),), generator=g)
            z = torch.randn(len(rows), self.z_dim, generator=g)
            c = None if not self.conditional else cond[rows] if isinstance(cond, torch.Tensor) else \
                [cond[i] for i in rows]
            self.ema(z, c)
        for m in norms:
            m.momentum = 0.1
        self.ema.eval()

    @torch.no_grad()
    def sample(self, cond: Cond, z: torch.Tensor) -> torch.Tensor:
        self.ema.eval()
        return self.ema(z, cond if self.conditional else None)


@register_model("unconditional")
class UnconditionalGAN(ConditionalGAN):
    """The same GAN without the prompt (no text in either player, no mismatch term)."""

    conditional = False
