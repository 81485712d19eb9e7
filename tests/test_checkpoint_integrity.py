"""Checkpoint integrity (issue 16, items 10 and 12): a checksum that catches flipped bytes, fsync
before the rename, stale ``*.tmp`` removal, weights-only loading, and wsolx checkpoints as
``--weights``."""

from __future__ import annotations

import io
import os
import random
import zipfile

import numpy as np
import pytest
import torch

from wsolx.engine import checkpoint as ckpt_mod
from wsolx.engine.checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from wsolx.models import get_model
from wsolx.models.weights import read_state_dict


def _model(seed=0, classes=3):
    torch.manual_seed(seed)
    return get_model("vgg_tiny", num_classes=classes, base_width=4)


def _save(path, model=None, **kw):
    model = model or _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    return save_checkpoint(
        path,
        model=model,
        epoch=3,
        config={"model": {"arch": "vgg_tiny"}},
        optimizer=opt,
        best={"epoch": 2, "score": 50.0},
        **kw,
    )


def _data_start(data, info: zipfile.ZipInfo) -> int:
    """Offset of a zip member's bytes (the local header's own name and extra lengths count)."""
    h = info.header_offset
    return h + 30 + int.from_bytes(data[h + 26 : h + 28], "little") + int.from_bytes(data[h + 28 : h + 30], "little")


def _tensor_record(data: bytes, key_part: str) -> zipfile.ZipInfo:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return max(
            (i for i in z.infolist() if "/data/" in i.filename and key_part in i.filename), key=lambda i: i.file_size
        )


@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_flipped_byte_in_a_tensor_is_detected(tmp_path, where):
    p = _save(tmp_path / "a.pt")
    data = bytearray(p.read_bytes())
    info = _tensor_record(bytes(data), "")
    start = _data_start(data, info)
    data[start + int(where * (info.file_size - 1))] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(p)


def test_changed_value_is_detected(tmp_path):
    ck = load_checkpoint(_save(tmp_path / "a.pt"))
    ck["epoch"] = 4  # as if a byte of the pickle had changed 3 into 4
    torch.save(ck, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "b.pt")


def test_intact_checkpoint_loads_weights_only(tmp_path):
    p = _save(tmp_path / "a.pt")
    plain = torch.load(p, weights_only=True)  # nothing but tensors and plain data
    assert plain["epoch"] == 3 and plain["checksum"]["sha256"]
    assert load_checkpoint(p)["best"] == {"epoch": 2, "score": 50.0}


def test_fsync_before_rename_and_of_the_folder(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(a, b):
        events.append(("replace", str(b)))
        return real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    p = _save(tmp_path / "a.pt")
    names = [(e, os.path.basename(x)) for e, x in events]
    assert names.index(("fsync", "a.pt.tmp")) < names.index(("replace", "a.pt"))
    assert ("fsync", tmp_path.name) in names[names.index(("replace", "a.pt")) :]
    assert load_checkpoint(p)["epoch"] == 3


def test_stale_tmp_is_removed_and_a_failed_save_leaves_none(tmp_path, monkeypatch):
    stale = tmp_path / "last.pt.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert ckpt_mod.remove_stale_temporaries(tmp_path) == [stale] and not stale.exists()

    def boom(_f, _data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt_mod, "_write_all", boom)
    with pytest.raises(OSError, match="last.pt") as exc:
        _save(tmp_path / "last.pt")
    assert exc.value.errno == 28 and exc.value.filename == str(tmp_path / "last.pt")
    assert not list(tmp_path.iterdir())


def test_trainer_removes_stale_tmp(tmp_path):
    from wsolx.data import synthetic
    from wsolx.engine import Config, DataConfig, ModelConfig, OptimConfig, Trainer

    root = tmp_path / "d"
    synthetic.generate(
        root, num_classes=2, train_per_class=3, val_per_class=1, test_per_class=1, image_size=32, progress=False
    )
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt.tmp").write_bytes(b"killed mid-save")
    cfg = Config(
        data=DataConfig(data_root=str(root), image_size=32, batch_size=4, num_workers=0),
        model=ModelConfig(arch="vgg_tiny", method_kwargs={"base_width": 4}),
        optim=OptimConfig(lr=0.01, weight_decay=0.0, epochs=1),
        out_dir=str(out),
        device="cpu",
        progress=False,
    )
    Trainer(cfg)
    assert not (out / "last.pt.tmp").exists()


def test_rng_state_round_trip():
    state = rng_state()
    a = (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist())
    set_rng_state(state)
    assert (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()) == a


def test_old_format_checkpoint_with_numpy_rng_still_loads(tmp_path):
    ck = load_checkpoint(_save(tmp_path / "a.pt"))
    ck.pop("checksum")
    ck["format"] = 1
    ck["rng"]["numpy"] = np.random.get_state()  # format 1 stored the ndarray itself
    torch.save(ck, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt")
    assert old["epoch"] == 3 and isinstance(old["rng"]["numpy"][1], np.ndarray)
    assert read_state_dict(str(tmp_path / "old.pt")).keys() == ck["model"].keys()


def test_wsolx_checkpoint_as_weights(tmp_path):
    src = _model(seed=1, classes=5)
    p = _save(tmp_path / "best.pt", model=src)
    trained = load_checkpoint(p)["model"]
    dst = get_model("vgg_tiny", num_classes=3, base_width=4, weights=str(p))  # other class count
    own = dst.state_dict()
    trunk = [k for k in own if dst.is_pretrained_key(k)]
    assert trunk and all(torch.equal(own[k], trained[k]) for k in trunk)
    assert own["classifier.weight"].shape[0] == 3 if "classifier.weight" in own else True


def test_corrupt_wsolx_checkpoint_as_weights_is_refused(tmp_path):
    from wsolx.models.weights import PretrainedWeightsError

    ck = load_checkpoint(_save(tmp_path / "best.pt"))
    k = next(iter(ck["model"]))
    ck["model"][k] = ck["model"][k] + 1
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(PretrainedWeightsError, match="checksum"):
        get_model("vgg_tiny", num_classes=3, base_width=4, weights=str(tmp_path / "bad.pt"))
