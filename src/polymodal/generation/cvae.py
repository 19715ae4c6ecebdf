"""Conditional variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational
Bayes"; Sohn et al. 2015, "Learning Structured Output Representation using Deep Conditional
Generative Models").

The recognition network q(z | x, text) reads a sample and its prompt and gives a Gaussian over
the latent code; the prior network p(z | text) gives another from the prompt alone (Sohn et al.'s
conditional prior); the decoder p(x | z, text) is the same DCGAN-style network the GAN's generator
uses, with the prompt in every batch norm. Training maximises the evidence lower bound: a Gaussian
reconstruction term (squared error summed over the output, i.e. a likelihood of variance 1/2) minus
KL(q(z | x, text) || p(z | text)).
With a fixed N(0, I) prior the code would be free to carry what the prompt already says (the colour,
the shape), and samples drawn from N(0, I) would then get those at random; a prior that moves with
the prompt leaves z only what the prompt does not say (here: the vertical position, the jitter).
The KL weight rises linearly from 0 to `beta` over the first `kl_warmup` steps (Bowman et al.
2016), so the decoder learns to use z before the prior pulls on it. Sampling draws z from the
prior network and decodes it with the prompt.
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
        self.prior = nn.Sequential(nn.Linear(self.cond_dim, self.cond_dim), nn.LeakyReLU(0.2),
                                   nn.Linear(self.cond_dim, 2 * self.z_dim))
        self.decoder = UpDecoder(self.z_dim + self.cond_dim, self.shape, self.width, cond_dim=self.cond_dim)

    def options(self) -> dict:
        return {"beta": self.beta, "kl_warmup": self.kl_warmup}

    def optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=lr)}

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer], step: int) -> dict[str, float]:
        x, cond, _ = batch
        c = self.text(cond)
        mu, logvar = self.posterior(torch.cat([self.encoder(x).flatten(1), c], 1)).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        prior_mu, prior_logvar = self._prior(c)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)  # the reparameterisation trick
        recon = (self.decoder(torch.cat([z, c], 1), c) - x).square().flatten(1).sum(1).mean()
        # KL between two diagonal Gaussians, q = N(mu, var) and p = N(prior_mu, prior_var)
        kl = 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mu).square()) / prior_logvar.exp() - 1)
        kl = kl.sum(1).mean()
        weight = self.beta * min(1.0, (step + 1) / max(1, self.kl_warmup))
        loss = recon + weight * kl
        optimizers["vae"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["vae"].step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    def _prior(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.prior(c).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    @torch.no_grad()
    def sample(self, cond: Cond, z: torch.Tensor) -> torch.Tensor:
        """`z` is standard normal noise; it is mapped through the prompt's prior N(mu(text), var(text))."""
        self.eval()
        c = self.text(cond)
        mu, logvar = self._prior(c)
        return self.decoder(torch.cat([mu + z * torch.exp(0.5 * logvar), c], 1), c)
