"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation between two image columns.

Two generators, G: A -> B and F: B -> A (a small ResNet each: a 7x7 stem, two stride-2 convolutions, residual
blocks, two transposed convolutions back, tanh), and two PatchGAN discriminators (Isola et al. 2017), D_B on real
and translated B images, D_A on A's. The objective, from the paper:

- adversarial, least squares (Mao et al. 2017, as the paper's experiments): D_B(G(a)) -> 1 for the generators,
  D_B(b) -> 1 and D_B(G(a)) -> 0 for the discriminator (likewise for F and D_A); the discriminators' loss is halved;
- cycle consistency, L1: F(G(a)) = a and G(F(b)) = b, weighted `cycle` (10);
- identity, L1: G(b) = b and F(a) = a, weighted `identity * cycle` (0.5 * 10), which keeps colours where they
  need not change.

No pairing between the rows of A and B enters any of these: an A image and the B image that share its batch row
are unrelated. Instance normalisation throughout (the paper's), so a translated image never depends on the rest of
its batch. Left out: the paper's pool of 50 earlier fakes for the discriminators (the LSGAN loss trains stably here
without it) and its learning-rate decay.

Inside the generation registry: `Batch.x` holds B images, `Batch.cond` A images (the trainer indexes both alike),
`sample(cond, z)` translates A images to B (z is unused), `back(b)` translates B to A.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PolymodalError
from .base import Batch, GenerativeModel, register_model


class _Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), nn.InstanceNorm2d(width,
                                  affine=True), nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3),
                                  nn.InstanceNorm2d(width, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _norm(width: int) -> nn.Module:
    return nn.InstanceNorm2d(width, affine=True)


class ResnetGenerator(nn.Module):
    def __init__(self, channels: int, width: int, blocks: int):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(channels, w, 7), _norm(w), nn.ReLU(True),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), _norm(2 * w), nn.ReLU(True),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), _norm(4 * w), nn.ReLU(True),
            *[_Residual(4 * w) for _ in range(blocks)],
            nn.ConvTranspose2d(4 * w, 2 * w, 3, stride=2, padding=1, output_padding=1), _norm(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 3, stride=2, padding=1, output_padding=1), _norm(w), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """A real/fake score per overlapping patch (a 4x4 map for 32-px images)."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), _norm(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, stride=1, padding=1), _norm(4 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, 1, 4, stride=1, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_model("cyclegan")
class CycleGAN(GenerativeModel):
    name = "cyclegan"
    conditional = False
    translates = True  # image-to-image: the condition is an image of the source column

    def __init__(self, shape, *, blocks: int = 4, cycle: float = 10.0, identity: float = 0.5, **shared):
        super().__init__(shape, **shared)
        if len(self.shape) != 3:
            raise PolymodalError(f"cyclegan translates images [C, H, W]; got the shape {list(self.shape)}")
        if self.shape[1] % 4 or self.shape[2] % 4 or min(self.shape[1:]) < 16:
            raise PolymodalError(f"cyclegan halves the image twice and its discriminator twice more: the side must be "
                                 f"a multiple of 4, at least 16, not {self.shape[1]}x{self.shape[2]}")
        if blocks < 1 or cycle <= 0 or identity < 0:
            raise PolymodalError(f"cyclegan: blocks >= 1, cycle > 0 and identity >= 0, got {blocks}, {cycle}, "
                                 f"{identity}")
        self.blocks, self.cycle, self.identity = int(blocks), float(cycle), float(identity)
        c, w = self.shape[0], self.width
        self.g_ab, self.g_ba = ResnetGenerator(c, w, self.blocks), ResnetGenerator(c, w, self.blocks)
        self.d_a, self.d_b = PatchDiscriminator(c, w), PatchDiscriminator(c, w)

    def options(self) -> dict:
        return {"blocks": self.blocks, "cycle": self.cycle, "identity": self.identity}

    def optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        betas = (0.5, 0.999)  # the paper's Adam
        return {"g": torch.optim.Adam([*self.g_ab.parameters(), *self.g_ba.parameters()], lr=lr, betas=betas),
                "d": torch.optim.Adam([*self.d_a.parameters(), *self.d_b.parameters()], lr=lr, betas=betas)}

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], step: int) -> dict[str, float]:
        real_b, real_a = batch.x, batch.cond
        fake_b, fake_a = self.g_ab(real_a), self.g_ba(real_b)
        # generators: fool both discriminators, come back to the start, leave the other domain's images alone
        for d in (self.d_a, self.d_b):
            d.requires_grad_(False)
        adversarial = _lsgan(self.d_b(fake_b), 1.0) + _lsgan(self.d_a(fake_a), 1.0)
        cycle = F.l1_loss(self.g_ba(fake_b), real_a) + F.l1_loss(self.g_ab(fake_a), real_b)
        identity = F.l1_loss(self.g_ab(real_b), real_b) + F.l1_loss(self.g_ba(real_a), real_a) \
            if self.identity > 0 else torch.zeros(())
        loss = adversarial + self.cycle * cycle + self.identity * self.cycle * identity
        optimizers["g"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["g"].step()
        for d in (self.d_a, self.d_b):
            d.requires_grad_(True)
        # discriminators: real images score 1, this step's translations 0
        d_loss = 0.5 * (_lsgan(self.d_b(real_b), 1.0) + _lsgan(self.d_b(fake_b.detach()), 0.0)
                        + _lsgan(self.d_a(real_a), 1.0) + _lsgan(self.d_a(fake_a.detach()), 0.0))
        optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["d"].step()
        return {"loss": loss.item(), "cycle": cycle.item() / 2, "identity": identity.item() / 2,
                "g_loss": adversarial.item() / 2, "d_loss": d_loss.item() / 2}

    @torch.no_grad()
    def sample(self, cond: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """A images (in [-1, 1]) translated to B."""
        self.eval()
        return self.g_ab(cond)

    @torch.no_grad()
    def back(self, b: torch.Tensor) -> torch.Tensor:
        """B images translated to A."""
        self.eval()
        return self.g_ba(b)


def _lsgan(scores: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(scores, torch.full_like(scores, target))
