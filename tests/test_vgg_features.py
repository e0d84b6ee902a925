"""The frozen VGG extractor shared by DeblurGAN's and FuseGAN's perceptual losses."""

import pytest

import torch  # noqa: E402  (a hard dependency: an ImportError must fail, not skip)

from mmdf_bench.methods.vgg_features import VGGFeatures, load_vgg_features  # noqa: E402


def _torchvision_vgg16_features(seed):
    from torchvision.models import vgg

    torch.manual_seed(seed)
    return vgg.make_layers(vgg.cfgs["D"][:10]).eval()  # VGG16 up to pool3, torchvision's indices


def test_relu3_3_of_a_torchvision_vgg16_state_dict(tmp_path):
    reference = _torchvision_vgg16_features(seed=3)
    path = tmp_path / "vgg16-397923af.pth"
    torch.save({f"features.{key}": value for key, value in reference.state_dict().items()}, path)
    extractor = load_vgg_features(path, relu_at_end=True)
    images = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    normalised = (images - extractor.mean) / extractor.std
    with torch.no_grad():
        expected = reference[:16](normalised)  # relu3_3
        assert torch.allclose(extractor(images), expected, atol=1e-5)
        assert (extractor(images) >= 0).all()
        # without the final ReLU the same weights give conv3_3, which has negative values
        before_relu = load_vgg_features(path, relu_at_end=False)(images)
        assert torch.allclose(before_relu.clamp(min=0), expected, atol=1e-5) and (before_relu < 0).any()
    assert not any(parameter.requires_grad for parameter in extractor.parameters())


def test_a_file_that_is_not_a_vgg_state_dict_is_refused_by_name(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="other.pth is not a torchvision VGG"):
        load_vgg_features(path, relu_at_end=True)


def test_layout_stops_at_the_third_block():
    convolutions = [layer for layer in VGGFeatures(relu_at_end=True).features if isinstance(layer, torch.nn.Conv2d)]
    assert [layer.out_channels for layer in convolutions] == [64, 64, 128, 128, 256, 256, 256]
