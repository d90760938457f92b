"""The facegan DCGAN written in plain PyTorch (nn.Module, autograd, torch.optim, NCHW): the
bar the Keras combined-model path is measured against. Same layers, initialisation and
step (D on real and fake with G frozen; G through a frozen D, non-saturating BCE). It runs
where Keras's torch backend does (KERAS_TORCH_DEVICE, else CUDA when available, else the
CPU; Apple's MPS and Intel's XPU, which Keras would also pick, are not handled), so both
are measured on the same device."""

import math
import os

import torch
from torch import nn

DEVICE = torch.device(os.environ.get("KERAS_TORCH_DEVICE")
                      or ("cuda" if torch.cuda.is_available() else "cpu"))


def _init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, resolution, latent_dim=100, base_channels=64):
        super().__init__()
        blocks = int(math.log2(resolution // 4))
        channels = base_channels * 2 ** (blocks - 1)
        self.start = channels
        self.project = nn.Linear(latent_dim, 16 * channels, bias=False)
        layers = [nn.BatchNorm2d(channels), nn.ReLU()]
        for _ in range(1, blocks):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(channels // 2), nn.ReLU()]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.apply(_init)

    def forward(self, z):
        return self.body(self.project(z).view(-1, self.start, 4, 4))  # channels-first


class Discriminator(nn.Module):
    def __init__(self, resolution, base_channels=64):
        super().__init__()
        blocks = int(math.log2(resolution // 4))
        layers, channels = [], 3
        for i in range(blocks):
            out = base_channels * 2**i
            layers += [nn.Conv2d(channels, out, 4, 2, 1, bias=i == 0)]
            layers += [nn.BatchNorm2d(out)] if i > 0 else []
            layers += [nn.LeakyReLU(0.2)]
            channels = out
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(16 * channels, 1))
        self.apply(_init)

    def forward(self, image):
        return self.body(image)


class PlainGAN:
    """The two-phase step in plain PyTorch; `train_step` takes the same NHWC arrays as GAN."""

    def __init__(self, resolution, latent_dim=100, base_channels=64, learning_rate=2e-4, beta_1=0.5):
        self.generator = Generator(resolution, latent_dim, base_channels).to(DEVICE)
        self.discriminator = Discriminator(resolution, base_channels).to(DEVICE)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), learning_rate, (beta_1, 0.999))
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), learning_rate, (beta_1, 0.999))
        self.bce = nn.BCEWithLogitsLoss()

    def train_step(self, real, z_for_d, z_for_g):
        G, D = self.generator, self.discriminator
        real = torch.from_numpy(real).to(DEVICE).permute(0, 3, 1, 2)  # NHWC -> NCHW
        z_for_d, z_for_g = (torch.from_numpy(z).to(DEVICE) for z in (z_for_d, z_for_g))
        ones = torch.ones(len(real), 1, device=DEVICE)
        zeros = torch.zeros(len(real), 1, device=DEVICE)

        with torch.no_grad():
            fake = G(z_for_d)
        d_loss = self.bce(D(real), ones) + self.bce(D(fake), zeros)
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()

        D.requires_grad_(False)  # frozen: input gradients only
        g_loss = self.bce(D(G(z_for_g)), ones)
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        D.requires_grad_(True)
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}  # .item() waits for the GPU
