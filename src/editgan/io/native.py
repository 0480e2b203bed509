"""Building our Generator from foreign state dicts (the converters' last step).

Our own network files are the networks' business: `Generator.save_pretrained(dir)` /
`Generator.from_pretrained(dir)` (`editgan.nn.pretrained`).
"""

from __future__ import annotations

import torch

from editgan.nn.config import GeneratorConfig
from editgan.nn.pretrained import check_state_fits
from editgan.nn.stylegan2 import Generator


def build_generator(config: GeneratorConfig, state_dict: dict[str, torch.Tensor],
                    device: str | torch.device = "cpu") -> Generator:
    """Instantiate a generator and load `state_dict` strictly, with a readable error on mismatch."""
    generator = Generator(config)
    check_state_fits(generator, state_dict, "the generator config")
    generator.load_state_dict({k: v.float() for k, v in state_dict.items()})
    return generator.to(device).eval().requires_grad_(False)
