"""Pretrained weights from local torchvision state-dict files (never downloaded)."""

from __future__ import annotations

import pytest
import torch
import torchvision

from wsolx.models import PretrainedWeightsError, get_model, mobilenet_v1, vgg_tiny


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _assert_trunk_matches(model, sd):
    own = model.state_dict()
    trunk = [k for k in own if model.is_pretrained_key(k)]
    assert trunk, "model has no trunk keys"
    for k in trunk:
        assert k in sd, k
        assert torch.equal(own[k], sd[k]), k
    return trunk


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory):
    # A real torchvision vgg16 state dict (all keys and shapes, classifier included). The
    # 102M-parameter classifier is never used by wsolx, so it is allocated without a random init.
    with torch.device("meta"):
        tv = torchvision.models.vgg16(weights=None)
    tv = tv.to_empty(device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in tv.features.parameters():
            p.normal_()
        for p in tv.classifier.parameters():
            p.zero_()
    path = tmp_path_factory.mktemp("weights") / "vgg16.pth"
    sd = tv.state_dict()
    torch.save(sd, path)
    return path, sd


def test_vgg16_loads_torchvision_state_dict(vgg16_file):
    path, sd = vgg16_file
    assert any(k.startswith("classifier.") for k in sd)
    for large in (False, True):
        model = get_model("vgg16", num_classes=7, large_feature_map=large, weights=path)
        trunk = _assert_trunk_matches(model, sd)
        assert len(trunk) == 26  # 13 convs x (weight, bias)
        assert isinstance(model.features[23], torch.nn.Identity if large else torch.nn.MaxPool2d)
        assert len(model.features) == 30  # pool5 (index 30) removed
        for i in (0, 2, 24, 28):
            assert torch.equal(model.features[i].weight, sd[f"features.{i}.weight"])
        # New layers keep their own initialisation.
        assert model.neck[0].weight.shape == (1024, 512, 3, 3)
        assert model.head.fc.weight.shape == (7, 1024) and model.head.fc.weight.std() < 0.02
    # The method's layers do not change what is loaded.
    adl = get_model("vgg16", num_classes=7, method="acol", weights=str(path))
    _assert_trunk_matches(adl, sd)


def test_resnet50_loads_torchvision_state_dict(tmp_path):
    torch.manual_seed(1)
    tv = torchvision.models.resnet50(weights=None)
    with torch.no_grad():  # non-trivial BN statistics
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "resnet50.pth"
    sd = tv.state_dict()
    torch.save(sd, path)
    for large in (False, True):
        model = get_model("resnet50", num_classes=3, large_feature_map=large, weights=path)
        trunk = _assert_trunk_matches(model, sd)
        assert set(trunk) == set(sd) - {"fc.weight", "fc.bias"}
        assert model.layer4[0].conv2.stride == (1, 1) and model.layer4[0].downsample[0].stride == (1, 1)
        assert model.layer3[0].conv2.stride == ((1, 1) if large else (2, 2))


def test_inception_v3_loads_torchvision_state_dict(tmp_path):
    torch.manual_seed(2)
    tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "inception_v3.pth"
    sd = tv.state_dict()
    torch.save(sd, path)
    model = get_model("inception_v3", num_classes=3, weights=path, method="spg")
    trunk = _assert_trunk_matches(model, sd)
    dropped = {k for k in sd if k.startswith(("fc.", "AuxLogits.", "Mixed_7"))}
    assert dropped and set(trunk) == set(sd) - dropped
    assert model.Mixed_6a.branch3x3.conv.stride == (1, 1)


def test_mobilenet_v1_and_vgg_tiny_load_own_naming(tmp_path):
    torch.manual_seed(3)
    src = mobilenet_v1(num_classes=10)
    sd = {k: v for k, v in src.state_dict().items() if src.is_pretrained_key(k)}
    sd["fc.weight"], sd["fc.bias"] = torch.randn(1000, 1024), torch.randn(1000)  # a classifier: dropped
    torch.save(sd, tmp_path / "mnv1.pth")
    dst = mobilenet_v1(num_classes=4, weights=tmp_path / "mnv1.pth")
    _assert_trunk_matches(dst, sd)
    assert "features.13.pw.1.running_var" in sd and "features.1.dw.0.weight" in sd
    # Legacy (non-zip) serialisation, a {"state_dict": ...} wrapper and a DataParallel prefix.
    tiny = vgg_tiny(num_classes=3)
    tsd = {f"module.{k}": v for k, v in tiny.state_dict().items() if tiny.is_pretrained_key(k)}
    torch.save({"state_dict": tsd}, tmp_path / "tiny.pth", _use_new_zipfile_serialization=False)
    loaded = vgg_tiny(num_classes=3, weights=tmp_path / "tiny.pth")
    _assert_trunk_matches(loaded, {k[len("module.") :]: v for k, v in tsd.items()})


def test_old_checkpoints_without_num_batches_tracked():
    src = vgg_tiny(num_classes=3)
    sd = {k: v for k, v in src.state_dict().items() if src.is_pretrained_key(k) and "num_batches" not in k}
    vgg_tiny(num_classes=3, weights=sd)  # no error


def test_strict_errors_list_the_keys(vgg16_file):
    path, sd = vgg16_file
    bad = dict(sd)
    del bad["features.0.weight"]
    bad["features.99.weight"] = torch.zeros(1)
    bad["features.2.bias"] = torch.zeros(3)
    with pytest.raises(PretrainedWeightsError) as info:
        get_model("vgg16", num_classes=3, weights=bad)
    msg = str(info.value)
    assert "missing (1): features.0.weight" in msg
    assert "unexpected (1): features.99.weight" in msg
    assert "shape mismatch (1): features.2.bias: file (3,) vs model (64,)" in msg
    # A full checkpoint of another width: new-layer keys are unexpected, trunk shapes differ.
    tiny = vgg_tiny(num_classes=3)
    with pytest.raises(PretrainedWeightsError) as info:
        vgg_tiny(num_classes=3, base_width=8, weights=tiny.state_dict())
    assert "unexpected (4): head.fc.bias, head.fc.weight, neck.0.bias, neck.0.weight" in str(info.value)
    assert "shape mismatch (36)" in str(info.value)


def test_never_downloads(tmp_path):
    with pytest.raises(ValueError, match="never downloads"):
        get_model("vgg_tiny", num_classes=3, weights="https://download.pytorch.org/models/vgg16-397923af.pth")
    with pytest.raises(TypeError, match="never downloads"):
        get_model("resnet50", num_classes=3, weights=torchvision.models.ResNet50_Weights.IMAGENET1K_V1)
    with pytest.raises(FileNotFoundError):
        get_model("vgg_tiny", num_classes=3, weights=tmp_path / "absent.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(TypeError, match="state dict"):
        get_model("vgg_tiny", num_classes=3, weights=tmp_path / "list.pth")
