"""print(network) says how each layer is configured (extra_repr), not just its class names."""

import re

from editgan.nn.config import GeneratorConfig
from editgan.nn.discriminator import Discriminator, DiscriminatorConfig
from editgan.nn.encoder import Encoder, EncoderConfig
from editgan.nn.feature_pyramid import FeaturePyramidConfig
from editgan.nn.projected_discriminator import ProjectedDiscriminator, ProjectedDiscriminatorConfig
from editgan.nn.segmenter import Segmenter
from editgan.nn.segmenter_config import SegmenterConfig
from editgan.nn.stylegan2 import Generator
from conftest import TINY


def shown(module) -> str:
    """repr(module) with each module's own line joined to its class name: "Generator(resolution=..."."""
    return re.sub(r"\(\n\s*", "(", repr(module))


def test_generator_repr_shows_widths_resolutions_and_activations():
    text = shown(Generator(GeneratorConfig(**TINY)))
    for part in ("Generator(resolution=32, z_dim=16, w_dim=16, num_ws=8",
                  "MappingNetwork(z_dim=16, w_dim=16, num_layers=2",
                  "FullyConnected(in_features=16, out_features=16, activation=lrelu, lr_mul=0.01)",
                  "SynthesisNetwork(resolution=32, num_ws=8, w_dim=16, img_channels=3, crop=None",
                  "SynthesisBlock(resolution=4, const 4x4 input",
                  "SynthesisBlock(resolution=16, up=2",
                  "SynthesisLayer(in_channels=32, out_channels=16, resolution=16, up=2, activation=lrelu, "
                  "conv_clamp=None",
                  "SynthesisLayer(in_channels=16, out_channels=16, resolution=16, up=1",
                  "ToRGBLayer(in_channels=8, img_channels=3, conv_clamp=None",
                  "FullyConnected(in_features=16, out_features=8, activation=linear, lr_mul=1)"):
        assert part in text, part


def test_discriminators_segmenter_and_encoder_show_their_configuration():
    d = shown(Discriminator(DiscriminatorConfig(resolution=32, channels={4: 16, 8: 16, 16: 8, 32: 8})))
    assert "Discriminator(resolution=32, img_channels=3" in d
    assert "Conv2dLayer(in_channels=8, out_channels=16, kernel_size=3, bias=True, activation=lrelu, down=2, " \
           "conv_clamp=None)" in d
    assert "DiscriminatorEpilogue(mbstd_group_size=4, mbstd_num_channels=1" in d
    pyramid = FeaturePyramidConfig(resolution=16, widths=(4, 8), head_width=4, num_classes=3)
    p = shown(ProjectedDiscriminator(ProjectedDiscriminatorConfig(resolution=16, features=pyramid.to_json(),
                                                                 image_width=4, max_width=8, mbstd_group_size=2)))
    assert "ProjectedDiscriminator(resolution=16, img_channels=3, head_resolution=4, max_width=8" in p
    assert "BranchDiscriminator(resolution=16, head=4" in p and "MinibatchStddev(group_size=2)" in p
    s = shown(Segmenter(SegmenterConfig(num_classes=3, feature_shapes=[(10, 4)], out_resolution=8, num_members=2)))
    assert s.startswith("Segmenter(num_members=2, in_features=10, hidden=") and "num_classes=3, out_resolution=8" in s
    e = shown(Encoder(EncoderConfig(resolution=16, num_ws=6, w_dim=16, channels=4, max_channels=8, fpn_channels=8)))
    assert "Encoder(resolution=16, num_ws=6, w_dim=16" in e and "Map2Style(resolution=" in e
