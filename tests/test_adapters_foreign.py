"""Training torchvision / timm models through wsolx (--arch tv:NAME / timm:NAME) and your own data set."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torchvision
from tiny_runs import train_argv

from wsolx.adapters.foreign import ForeignCAMModel, build_foreign_model, is_foreign_arch
from wsolx.cli import main


def _train(root, out, arch, *extra):
    return train_argv(
        root,
        out,
        "--set",
        "eval.variants=base",
        "--set",
        "eval.select_variant=base",
        *extra,
        arch=arch,
        masks=False,
        lr=None,
        interval=0.1,
    )


def test_is_foreign_arch():
    assert is_foreign_arch("tv:resnet50") and is_foreign_arch("timm:resnet18")
    assert not is_foreign_arch("resnet50") and not is_foreign_arch("tv:")


def test_build_loads_local_weights_then_new_classifier_and_tap(tmp_path):
    torch.manual_seed(0)
    src = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(src.state_dict(), path)
    m = build_foreign_model("tv:resnet18", num_classes=3, pooling="tap", tap_theta=0.2, weights=str(path))
    assert isinstance(m, ForeignCAMModel) and m.num_classes == 3
    assert torch.equal(m.model.layer1[0].conv1.weight, src.layer1[0].conv1.weight)
    assert m.fc_weight.shape == (3, 512)
    x = torch.randn(2, 3, 64, 64)
    loss, logits = m.training_loss(x, torch.tensor([0, 2]))
    assert logits.shape == (2, 3) and torch.isfinite(loss)
    assert m.cams(x, torch.tensor([0, 1])).shape == (2, 2, 2)
    groups = m.param_groups(0.01)
    assert [g["name"] for g in groups] == ["pretrained", "new"] and groups[1]["lr"] == pytest.approx(0.1)
    assert len(groups[1]["params"]) == 2  # the new classifier's weight and bias


def test_build_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        build_foreign_model("tv:resnet18", num_classes=2, weights=str(tmp_path / "nope.pth"))
    bad = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="the weights do not fit tv:resnet18"):
        build_foreign_model("tv:resnet18", num_classes=2, weights=str(bad))
    with pytest.raises(ValueError, match="unknown torchvision model 'resnet0'"):
        build_foreign_model("tv:resnet0", num_classes=2)
    with pytest.raises(ValueError, match="no global-pool \\+ linear classifier head"):
        build_foreign_model("tv:vgg11", num_classes=2)


def test_cli_trains_torchvision_and_timm(synth_root, tmp_path, capsys):
    out = tmp_path / "tv"
    assert main(_train(synth_root, out, "tv:resnet18", "--lr", "0.01", "--weight-decay", "1e-4")) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["num_images"] == 4
    assert main(["eval", str(out / "last.pt"), "--variants", "base", "--out", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["variants"]["base"]["MaxBoxAcc"] >= 0
    pytest.importorskip("timm")
    assert (
        main(
            _train(
                synth_root,
                tmp_path / "timm",
                "timm:test_resnet",
                "--lr",
                "0.01",
                "--weight-decay",
                "0",
                "--pooling",
                "gap",
            )
        )
        == 0
    )


def test_missing_settings_reported_together(synth_root, tmp_path, capsys):
    assert main(_train(synth_root, tmp_path / "x", "tv:resnet18")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "optim.lr, optim.weight_decay have no default for 'tv:resnet18'" in err[0]
    assert main(_train(synth_root, tmp_path / "y", "mobilenet_v1", "--set", "optim.weight_decay=null")) == 2
    assert "optim.lr" in capsys.readouterr().err


def test_foreign_arch_needs_method_cam(synth_root, tmp_path, capsys):
    assert (
        main(_train(synth_root, tmp_path / "z", "tv:resnet18", "--method", "has", "--lr", "0.1", "--weight-decay", "0"))
        == 2
    )
    assert "trains with method 'cam' only" in capsys.readouterr().err


def test_own_dataset_name_without_class_names(synth_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)  # the shared set stays untouched
    meta = root / "metadata"
    shutil.copytree(meta / "SYNTH", meta / "BIRDS")
    (meta / "BIRDS" / "class_names.txt").unlink(missing_ok=True)
    out = tmp_path / "birds"
    assert (
        main(
            _train(
                root,
                out,
                "vgg_tiny",
                "--dataset",
                "BIRDS",
                "--mask-dataset",
                "SYNTH_MASK",
                "--set",
                "model.method_kwargs.base_width=4",
            )
        )
        == 0
    )
    res = json.loads((out / "metrics.json").read_text())["test"]
    assert res["dataset"] == "BIRDS" and res["variants"]["base"]["PxAP"] is not None


def test_unknown_dataset_without_folder(synth_root, tmp_path, capsys):
    assert main(_train(synth_root, tmp_path / "w", "vgg_tiny", "--dataset", "NOPE")) == 2
    assert "NOPE" in capsys.readouterr().err
