"""Conditional variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational
Bayes"; Sohn et al. 2015, "Learning Structured Output Representation using Deep Conditional
Generative Models").

The encoder q(z | x, text) reads a sample and its prompt and gives a Gaussian over the latent
code; the decoder p(x | z, text) is the same DCGAN-style network the GAN's generator uses.
Training maximises the evidence lower bound: a Gaussian reconstruction term (squared error
summed over the output, i.e. unit-variance-1/2 likelihood) minus the KL divergence from the
prior N(0, I). The KL weight rises linearly from 0 to `beta` over the first `kl_warmup`
steps (Bowman et al. 2016), so the decoder learns to use z before the prior pulls on it.
Sampling draws z from the prior and decodes it with the prompt.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Batch, Cond, GenerativeModel, register_model
from .conditioning import TextEmbedder
from .nets import DownEncoder, UpDecoder


@register_model("cvae")
class ConditionalVAE(GenerativeModel):
    def __init__(self, shape, *, text_encoder: str = "minilm", tokenizer: str = "", z_dim: int = 64,
                 cond_dim: int = 128, width: int = 32, beta: float = 1.0, kl_warmup: int = 500):
        super().__init__(shape, text_encoder=text_encoder, tokenizer=tokenizer, z_dim=z_dim, cond_dim=cond_dim,
                         width=width)
        self.beta, self.kl_warmup = float(beta), int(kl_warmup)
        self.text = TextEmbedder(text_encoder, self.cond_dim, tokenizer=tokenizer)
        self.encoder = DownEncoder(self.shape, self.width)
        flat = self.encoder.out_channels * math.prod(self.encoder.base)
        self.posterior = nn.Linear(flat + self.cond_dim, 2 * self.z_dim)
        self.decoder = UpDecoder(self.z_dim + self.cond_dim, self.shape, self.width)

    def options(self) -> dict:
        return {"beta": self.beta, "kl_warmup": self.kl_warmup}

    def optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=lr)}

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], step: int) -> dict[str, float]:
        x, cond, _ = batch
        c = self.text(cond)
        mu, logvar = self.posterior(torch.cat([self.encoder(x).flatten(1), c], 1)).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # the reparameterisation trick
        recon = (self.decoder(torch.cat([z, c], 1)) - x).square().flatten(1).sum(1).mean()
        kl = (0.5 * (mu.square() + logvar.exp() - 1 - logvar)).sum(1).mean()
        weight = self.beta * min(1.0, (step + 1) / max(1, self.kl_warmup))
        loss = recon + weight * kl
        optimizers["vae"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["vae"].step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    @torch.no_grad()
    def sample(self, cond: Cond, z: torch.Tensor) -> torch.Tensor:
        self.eval()
        return self.decoder(torch.cat([z, self.text(cond)], 1))
