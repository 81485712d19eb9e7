"""Protocol defaults and their flags: 1000 thresholds, the last checkpoint tested, the per-class
validation subsample (the protocol's rule, deterministic), the wsolevaluation flag names, and the
test accuracy at the thresholds chosen on the validation split."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from tiny_runs import tiny_config

from wsolx import protocol
from wsolx.cli import build_parser, config_from_args
from wsolx.data.subsample import subsample_per_class
from wsolx.engine import Config, DataConfig, Trainer, load_checkpoint
from wsolx.engine.builders import build_dataset, build_model
from wsolx.engine.evaluator import logits_and_cams
from wsolx.metrics import BoxEvaluator
from wsolx.metrics.val_threshold import val_threshold_metrics

SIZE = 32


# ----------------------------------------------------------------------------- defaults
def test_defaults_are_the_protocol_values():
    cfg = Config()
    assert cfg.eval.cam_curve_interval == protocol.CAM_CURVE_INTERVAL == 0.001
    assert len(np.arange(0, 1, cfg.eval.cam_curve_interval)) == 1000
    assert cfg.eval.iou_thresholds == [0.3, 0.5, 0.7] and cfg.eval.multi_box is True
    assert cfg.test_checkpoint == protocol.TEST_CHECKPOINT == "last"
    assert cfg.data.num_val_sample_per_class == 0
    assert cfg.data.fractional_gt_boxes is False and cfg.data.eval_geometry == "protocol"
    assert len(BoxEvaluator().thresholds) == 1000


def _cfg(*argv):
    return config_from_args(build_parser().parse_args(["train", *argv]))


@pytest.mark.parametrize(
    "argv, field, value",
    [
        (["--cam-curve-interval", "0.01"], "eval.cam_curve_interval", 0.01),
        (["--cam_curve_interval", "0.01"], "eval.cam_curve_interval", 0.01),
        (["--iou-threshold-list", "30", "50"], "eval.iou_thresholds", [0.3, 0.5]),
        (["--iou_threshold_list", "50"], "eval.iou_thresholds", [0.5]),
        (["--box_v2_metric", "false"], "eval.multi_box", False),
        (["--box-v2-metric"], "eval.multi_box", True),
        (["--multi_contour_eval", "False"], "eval.multi_box", False),
        (["--eval_checkpoint_type", "best"], "test_checkpoint", "best"),
        (["--test-checkpoint", "best"], "test_checkpoint", "best"),
        (["--num_val_sample_per_class", "5"], "data.num_val_sample_per_class", 5),
        (["--num-val-sample-per-class", "2"], "data.num_val_sample_per_class", 2),
        (["--fractional-gt-boxes"], "data.fractional_gt_boxes", True),
        (["--eval-geometry", "paper"], "data.eval_geometry", "paper"),
    ],
)
def test_protocol_flag_names(argv, field, value):
    cfg = _cfg(*argv)
    section, _, name = field.rpartition(".")
    obj = getattr(cfg, section) if section else cfg
    assert getattr(obj, name) == value


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--test-checkpoint", "middle"], "invalid choice"),
        (["--iou-threshold-list", "0"], "percent in (0, 100]"),
        (["--box-v2-metric", "maybe"], "expected a boolean"),
    ],
)
def test_bad_protocol_flags(argv, message, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", *argv])
    assert message in capsys.readouterr().err


def test_bad_settings_name_the_field():
    from wsolx.engine import ConfigError

    with pytest.raises(ConfigError, match="test_checkpoint must be 'last' or 'best'"):
        Config().replace(["test_checkpoint=middle"]).validate()
    with pytest.raises(ConfigError, match="data.num_val_sample_per_class must be a non-negative integer"):
        Config().replace(["data.num_val_sample_per_class=-1"]).validate()
    with pytest.raises(ConfigError, match="data.eval_geometry must be 'protocol' or 'paper'"):
        Config().replace(["data.eval_geometry=crop"]).validate()


# ----------------------------------------------------------------------------- val subsample
def transcribed_protocol_subsample(labels, n, seed):
    """The protocol's ``_adjust_samples_per_class`` after ``np.random.seed(seed)``: per sorted label,
    ``np.random.choice(positions, n, replace=False)`` on numpy's global generator."""
    np.random.seed(seed)
    labels = np.array(labels)
    out = []
    for lab in np.unique(labels):
        idx = np.where(labels == lab)[0]
        out += np.random.choice(idx, n, replace=False).tolist()
    return out


@pytest.mark.parametrize("seed", [0, 1, 123])
def test_subsample_equals_the_protocol_rule(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, 200).tolist()  # unsorted labels, unequal class sizes
    counts = np.bincount(labels)
    n = int(counts.min())
    assert n >= 2
    for k in (1, 2, n):
        ours = subsample_per_class(labels, k, seed)
        assert ours == transcribed_protocol_subsample(labels, k, seed)
        assert len(ours) == k * len(counts) and len(set(ours)) == len(ours)
        assert np.bincount(np.array(labels)[ours]).tolist() == [k] * len(counts)
        assert subsample_per_class(labels, k, seed) == ours  # deterministic
    assert subsample_per_class(labels, 0, seed) == list(range(200))
    state = np.random.get_state()
    subsample_per_class(labels, 1, seed)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global generator is untouched


def test_subsample_depends_on_the_seed_and_checks_sizes():
    labels = [0] * 50 + [1] * 50
    assert subsample_per_class(labels, 5, 0) != subsample_per_class(labels, 5, 1)
    with pytest.raises(ValueError, match="class 1 has 50 images, fewer than the 51 per class"):
        subsample_per_class([0] * 60 + [1] * 50, 51, 0)


@pytest.fixture(scope="module")
def synth_root(make_synth):
    return make_synth(num_classes=3, train_per_class=6, val_per_class=4, test_per_class=3, image_size=SIZE, seed=1)


def test_val_split_subsample_through_the_config(synth_root):
    cfg = Config(
        data=DataConfig(dataset="SYNTH", data_root=str(synth_root), image_size=SIZE, num_val_sample_per_class=2), seed=5
    )
    full = build_dataset(
        dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, num_val_sample_per_class=0)), "val", train=False
    )
    sub = build_dataset(cfg, "val", train=False)
    assert len(full) == 12 and len(sub) == 6
    keep = subsample_per_class(full.labels, 2, 5)
    assert sub.image_ids == [full.image_ids[i] for i in keep]
    assert build_dataset(cfg, "val", train=False).image_ids == sub.image_ids
    assert len(build_dataset(cfg, "test", train=False)) == 9  # only the validation split is subsampled
    from wsolx.engine import ConfigError

    with pytest.raises(ConfigError, match="cannot subsample: class 0 has 4 images, fewer than the 5 per class"):
        build_dataset(
            dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, num_val_sample_per_class=5)), "val", train=False
        )


# ----------------------------------------------------------------------------- val thresholds
def _variant(thresholds, v1, curves):
    return {"thresholds": thresholds, "box_acc_curve_v1": v1, "box_acc_curve": curves}


def test_val_threshold_metrics_by_hand():
    thr = [0.0, 0.25, 0.5, 0.75]
    val = _variant(thr, [10.0, 40.0, 40.0, 5.0], {0.3: [1.0, 2.0, 9.0, 9.0], 0.5: [7.0, 3.0, 2.0, 1.0]})
    test = _variant(thr, [11.0, 12.0, 99.0, 1.0], {0.3: [5.0, 6.0, 7.0, 8.0], 0.5: [0.5, 50.0, 60.0, 1.0]})
    m = val_threshold_metrics(test, val)
    # Ties on the validation curve go to the first (lowest) threshold, as np.argmax.
    assert m["val_threshold"] == 0.25 and m["BoxAcc@val_thr"] == 12.0
    assert m["val_threshold@0.3"] == 0.5 and m["BoxAccV2@0.3@val_thr"] == 7.0
    assert m["val_threshold@0.5"] == 0.0 and m["BoxAccV2@0.5@val_thr"] == 0.5
    assert m["BoxAccV2@val_thr"] == (7.0 + 0.5) / 2
    # Curves read back from JSON have string keys.
    again = val_threshold_metrics(json.loads(json.dumps(test)), json.loads(json.dumps(val)))
    assert again == m
    with pytest.raises(ValueError, match="different CAM thresholds"):
        val_threshold_metrics(test, _variant([0.0, 0.5], [1.0, 2.0], {0.3: [1.0, 2.0], 0.5: [1.0, 2.0]}))


def _tiny(root, out, **changes):
    return tiny_config(
        root,
        out,
        data={"eval_batch_size": 9},
        eval={"variants": ["base", "nwc+pas"], "cam_curve_interval": 0.05},
        eval_every=1,
        **changes,
    )


def _manual_box_acc(cfg, ckpt_path, split, variant, threshold):
    """Box metrics of one variant on one split at the given CAM threshold(s), from scratch."""
    ds = build_dataset(cfg, split, train=False)
    model = build_model(cfg, ds.num_classes)
    model.load_state_dict(load_checkpoint(ckpt_path)["model"])
    model.eval()
    nwc, pas = {"base": (False, False), "nwc+pas": (True, True)}[variant]
    ev = BoxEvaluator(
        thresholds=np.atleast_1d(threshold),
        image_size=SIZE,
        percentile=cfg.eval.pas_percentile if pas else 100.0,
        iou_thresholds=cfg.eval.iou_thresholds,
    )
    images = torch.stack([ds[i][0] for i in range(len(ds))])
    labels = torch.tensor(ds.labels)
    with torch.no_grad():
        _, cams = logits_and_cams(model, images, labels, [nwc])
    ev.update(cams[nwc], [ds.gt_boxes(i) for i in range(len(ds))])
    return ev.compute()


@pytest.mark.parametrize("which", ["last", "best"])
def test_test_checkpoint_and_val_thresholds_equal_a_manual_evaluation(synth_root, tmp_path, which):
    cfg = _tiny(synth_root, tmp_path / which, test_checkpoint=which)
    result = Trainer(cfg).fit()
    saved = json.loads((tmp_path / which / "metrics.json").read_text())
    expected_epoch = 2 if which == "last" else result.best["epoch"]
    assert saved["tested"]["checkpoint"] == which and saved["tested"]["epoch"] == expected_epoch
    ckpt = tmp_path / which / f"{which}.pt"
    for v in ("base", "nwc+pas"):
        tm = result.test["variants"][v]
        # The thresholds: the first argmax of the validation curves of the tested checkpoint.
        sweep = np.arange(0, 1, cfg.eval.cam_curve_interval)
        val = _manual_box_acc(cfg, ckpt, "val", v, sweep)
        assert tm["val_threshold"] == sweep[int(np.argmax(val["box_acc_curve_v1"]))]
        for d in cfg.eval.iou_thresholds:
            assert tm[f"val_threshold@{d:g}"] == sweep[int(np.argmax(val["box_acc_curve"][d]))]
        t1 = tm["val_threshold"]
        man = _manual_box_acc(cfg, ckpt, "test", v, t1)
        assert tm["BoxAcc@val_thr"] == man["MaxBoxAcc"]
        accs = []
        for d in cfg.eval.iou_thresholds:
            td = tm[f"val_threshold@{d:g}"]
            man = _manual_box_acc(cfg, ckpt, "test", v, td)
            assert tm[f"BoxAccV2@{d:g}@val_thr"] == man[f"MaxBoxAccV2@{d:g}"]
            accs.append(man[f"MaxBoxAccV2@{d:g}"])
        assert tm["BoxAccV2@val_thr"] == pytest.approx(float(np.mean(accs)), abs=1e-12)
        # Beside the oracle: never above it.
        assert tm["BoxAcc@val_thr"] <= tm["MaxBoxAcc"] and tm["BoxAccV2@val_thr"] <= tm["MaxBoxAccV2"]
