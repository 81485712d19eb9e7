"""wsolx eval-maps / wsolx.metrics.evaluate_scoremaps: saved score maps, as the official evaluator scores them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from wsolx.cli import main
from wsolx.metrics import evaluate_scoremaps

cv2 = pytest.importorskip("cv2")
import official_eval as oe  # noqa: E402
from tiny_runs import train_argv  # noqa: E402

SIZE = 16


# ------------------------------------------------------------------------------------------ hand cases
def write_meta(root: Path, name: str, rows, split: str = "test") -> Path:
    """rows: (image_id, label, (W, H), [boxes]) -> <root>/<name>/<split>/*.txt."""
    d = root / name / split
    d.mkdir(parents=True)
    (d / "image_ids.txt").write_text("".join(f"{i}\n" for i, *_ in rows))
    (d / "class_labels.txt").write_text("".join(f"{i},{lab}\n" for i, lab, *_ in rows))
    (d / "image_sizes.txt").write_text("".join(f"{i},{w},{h}\n" for i, _, (w, h), _ in rows))
    (d / "localization.txt").write_text(
        "".join(f"{i},{b[0]},{b[1]},{b[2]},{b[3]}\n" for i, _, _, boxes in rows for b in boxes)
    )
    return d


def hand_maps():
    a = np.zeros((SIZE, SIZE))
    a[2:10, 2:10] = 1.0  # one block: box [2, 2, 10, 10], IoU 64/81 with GT [2, 2, 9, 9]
    b = np.zeros((SIZE, SIZE))
    b[0:6, 0:6] = 0.6  # a large dim blob (q = 153) ...
    b[12:14, 12:14] = 1.0  # ... and the small bright object: box [12, 12, 14, 14], IoU 4/9 with GT
    c = np.zeros((SIZE, SIZE))  # nothing: box [0, 0, 0, 0], IoU 1/4 with GT [0, 0, 1, 1]
    return {"cls0/a.jpg": a, "cls1/b.jpg": b, "cls1/c.jpg": c}


HAND_GT = {"cls0/a.jpg": [(2, 2, 9, 9)], "cls1/b.jpg": [(12, 12, 13, 13)], "cls1/c.jpg": [(0, 0, 1, 1)]}


@pytest.fixture()
def hand(tmp_path):
    rows = [(i, 0 if i.startswith("cls0") else 1, (SIZE, SIZE), HAND_GT[i]) for i in hand_maps()]
    write_meta(tmp_path / "metadata", "HAND", rows)
    maps_root = tmp_path / "maps"
    for i, m in hand_maps().items():
        (maps_root / i).parent.mkdir(parents=True, exist_ok=True)
        np.save(maps_root / f"{i}.npy", m)
    return tmp_path


def test_transcription_on_hand_cases():
    thr = [0.0, 0.25, 0.5, 0.75]  # integer levels 0, 63, 127, 191; the dim blob (153) goes at 0.75
    single = oe.box_accuracy(hand_maps(), HAND_GT, thr, [30, 50, 70], multi_contour=False)
    multi = oe.box_accuracy(hand_maps(), HAND_GT, thr, [30, 50, 70], multi_contour=True)
    third = 100.0 / 3
    np.testing.assert_allclose(single[30], [third, third, third, 2 * third])
    np.testing.assert_allclose(single[50], [third] * 4)
    np.testing.assert_allclose(single[70], [third] * 4)
    np.testing.assert_allclose(multi[30], [2 * third] * 4)
    np.testing.assert_allclose(multi[50], [third] * 4)
    assert oe.headline(single, multi_iou=False) == pytest.approx(third)
    assert oe.headline(multi, multi_iou=True) == pytest.approx((2 * third + third + third) / 3)
    assert oe.boxes_at_thresholds(hand_maps()["cls1/c.jpg"], [0.5], True) == [[(0, 0, 0, 0)]]
    assert oe.scale_box((7, 7, 19, 19), (20, 20), (16, 16)) == (5, 5, 15, 15)  # int(5.6) = 5


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("preset,expected", [("wsolevaluation-cli", 100 / 3), ("wsolevaluation", 400 / 9)])
def test_hand_cases_match_the_official_rules(hand, preset, expected, workers):
    res = evaluate_scoremaps(
        hand / "maps",
        metadata_root=hand / "metadata",
        dataset="HAND",
        image_size=SIZE,
        preset=preset,
        cam_curve_interval=0.25,
        workers=workers,
    )
    assert res["official"] == pytest.approx(expected)
    assert res["MaxBoxAcc"] == pytest.approx(100 / 3) and res["best_threshold"] == 0.0
    assert res["GT-known Loc"] == pytest.approx(100 / 3)
    assert res["Top-1 Loc"] is None and res["num_images"] == 3
    multi = preset == "wsolevaluation"
    assert res["MaxBoxAccV2@0.3"] == pytest.approx(200 / 3 if multi else 200 / 3)
    assert res["box_acc_curve"][0.3] == pytest.approx([200 / 3] * 4 if multi else [100 / 3] * 3 + [200 / 3])


def test_predictions_give_top1_and_top5_loc(hand, tmp_path):
    pred = tmp_path / "pred.csv"
    pred.write_text("image_id,top1,top2\ncls0/a.jpg,1,0\ncls1/b.jpg,1,0\ncls1/c.jpg,1,0\n")
    res = evaluate_scoremaps(
        hand / "maps",
        metadata_root=hand / "metadata",
        dataset="HAND",
        image_size=SIZE,
        predictions=pred,
        cam_curve_interval=0.25,
    )
    assert res["Top-1 Loc"] == 0.0  # a (the only one localised) is misclassified at top-1
    assert res["Top-5 Loc"] == pytest.approx(100 / 3)
    assert res["Top-1 Cls"] == pytest.approx(200 / 3) and res["Top-5 Cls"] == 100.0


# ---------------------------------------------------------------------------- random maps vs transcription
@pytest.fixture(scope="module")
def synth(make_synth):
    return make_synth(num_classes=3, train_per_class=6, test_per_class=6)


def random_maps(image_ids, size, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for i in image_ids:
        m = cv2.resize(rng.random((4, 4)), (size, size), interpolation=cv2.INTER_CUBIC)
        m = (m - m.min()) / (m.max() - m.min()) * rng.uniform(0.4, 1.0)  # normalised maps not reaching 1
        out[i] = m
    return out


def assert_curves_equal_transcription(res: dict, maps, gt, thr, multi: bool) -> None:
    """The headline and every box-accuracy curve of ``res`` equal the transcription's (``==``)."""
    curves = oe.box_accuracy(maps, gt, thr, [30, 50, 70], multi)
    assert res["official"] == oe.headline(curves, multi)
    for p in (30, 50, 70):
        assert res["box_acc_curve"][p / 100] == curves[p].tolist()


@pytest.mark.parametrize("multi", [False, True])
def test_random_maps_equal_the_transcription(synth, multi):
    from wsolx.data import load_metadata

    meta = load_metadata(synth / "metadata" / "SYNTH" / "test")
    maps = random_maps(meta.image_ids, 32)
    res = evaluate_scoremaps(
        maps,
        metadata_root=synth / "metadata",
        dataset="SYNTH",
        image_size=32,
        cam_curve_interval=0.02,
        multi_contour=multi,
        multi_iou=multi,
        batch_size=5,
    )
    gt = {i: [oe.scale_box(b, meta.sizes[i], (32, 32)) for b in meta.boxes[i]] for i in meta.image_ids}
    thr = np.arange(0, 1, 0.02)
    assert_curves_equal_transcription(res, maps, gt, thr, multi)
    v1 = oe.box_accuracy(maps, gt, thr, [50], False)[50]
    assert res["box_acc_curve_v1"] == v1.tolist() and res["MaxBoxAcc"] == v1.max()


@pytest.mark.parametrize("multi", [False, True])
def test_scaled_ground_truth_equals_the_transcription(tmp_path, multi):
    """Images of other sizes than the evaluation size: GT boxes are scaled and truncated as the protocol."""
    rng = np.random.default_rng(5)
    rows = []
    for k in range(24):
        w, h = int(rng.integers(9, 90)), int(rng.integers(9, 90))  # smaller and larger than 32
        boxes = []
        for _ in range(int(rng.integers(1, 3))):
            x0, y0 = int(rng.integers(0, w - 2)), int(rng.integers(0, h - 2))
            boxes.append((x0, y0, int(rng.integers(x0 + 1, w)), int(rng.integers(y0 + 1, h))))
        if k == 0:
            boxes = [(0, 0, w - 1, h - 1)]  # the image border
        rows.append((f"c{k % 2}/{k}.jpg", k % 2, (w, h), boxes))
    write_meta(tmp_path / "metadata", "SCALED", rows)
    maps = random_maps([r[0] for r in rows], 32, seed=7)
    res = evaluate_scoremaps(
        maps,
        metadata_root=tmp_path / "metadata",
        dataset="SCALED",
        image_size=32,
        cam_curve_interval=0.01,
        multi_contour=multi,
        multi_iou=multi,
    )
    gt = {i: [oe.scale_box(b, wh, (32, 32)) for b in boxes] for i, _, wh, boxes in rows}
    fractional = sum(
        any(v * 32 / s != int(v * 32 / s) for v, s in zip(b, (*wh, *wh))) for _, _, wh, boxes in rows for b in boxes
    )
    assert fractional > 10  # truncation matters in this case
    assert_curves_equal_transcription(res, maps, gt, np.arange(0, 1, 0.01), multi)


def test_pxap_equals_the_transcription(synth):
    from PIL import Image

    from wsolx.data import load_metadata

    meta = load_metadata(synth / "metadata" / "SYNTH_MASK" / "test")
    maps = random_maps(meta.image_ids, 32, seed=1)

    def grey(p):
        return np.asarray(Image.open(synth / p).convert("L"))

    masks = {
        i: oe.gt_mask([grey(p) for p in meta.masks[i].mask_paths], grey(meta.masks[i].ignore_path), 32)
        for i in meta.image_ids
    }
    res = evaluate_scoremaps(
        maps,
        metadata_root=synth / "metadata",
        dataset="SYNTH",
        image_size=32,
        cam_curve_interval=0.01,
        mask_dataset="SYNTH_MASK",
        mask_root=synth,
    )
    assert res["PxAP"] == oe.pxap(maps, masks, np.arange(0, 1, 0.01))
    alone = evaluate_scoremaps(
        maps,
        metadata_root=synth / "metadata",
        dataset="SYNTH_MASK",
        image_size=32,
        cam_curve_interval=0.01,
        mask_root=synth,
    )
    assert alone["PxAP"] == res["PxAP"] and alone["official"] == res["PxAP"] and "MaxBoxAcc" not in alone


# ------------------------------------------------------------------------ maps of a wsolx model == wsolx eval
@pytest.fixture(scope="module")
def trained(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("maps_run")
    argv = train_argv(
        synth,
        out,
        "--set",
        "eval.variants=base",
        "--set",
        "eval.select_variant=base",
        epochs=2,
        batch_size=6,
        lr=0.02,
        interval=0.02,
    )
    assert main(argv) == 0
    return out / "last.pt"


def model_outputs(checkpoint):
    """Raw CAMs (ground-truth class) and logits of the test split, batched as `wsolx eval` batches them."""
    from torch.utils.data import DataLoader

    from wsolx.data import collate_with_index
    from wsolx.engine.builders import build_dataset
    from wsolx.engine.checkpoint import load_checkpoint
    from wsolx.engine.config import Config
    from wsolx.engine.eval_runs import load_model
    from wsolx.engine.evaluator import logits_and_cams

    ckpt = load_checkpoint(checkpoint)
    cfg = Config.from_dict(ckpt["config"])
    ds = build_dataset(cfg, "test", train=False)
    model = load_model(ckpt, cfg, torch.device("cpu"), ds.num_classes)
    cams, logits = {}, {}
    loader = DataLoader(ds, batch_size=cfg.data.eval_batch_size or cfg.data.batch_size, collate_fn=collate_with_index)
    with torch.no_grad():
        for images, labels, idx in loader:
            lg, cm = logits_and_cams(model, images, labels, [False])
            for k, i in enumerate(idx.tolist()):
                cams[ds.image_ids[i]] = cm[False][k].numpy()
                logits[ds.image_ids[i]] = lg[k]
    return cams, logits, cfg


def test_maps_of_a_wsolx_model_equal_wsolx_eval(trained, synth, tmp_path):
    from wsolx.ops import upsample_scoremaps

    assert main(["eval", str(trained), "--variants", "base", "--out", str(tmp_path / "eval.json")]) == 0
    ref = json.loads((tmp_path / "eval.json").read_text())["variants"]["base"]
    cams, logits, cfg = model_outputs(trained)
    raw_root, full_root = tmp_path / "raw", tmp_path / "full"
    for i, c in cams.items():
        for root, m in ((raw_root, c), (full_root, upsample_scoremaps(torch.from_numpy(c)[None], (32, 32))[0].numpy())):
            (root / i).parent.mkdir(parents=True, exist_ok=True)
            np.save(root / f"{i}.npy", m)
    pred = tmp_path / "pred.csv"
    pred.write_text(
        "".join(
            f"{i},{','.join(str(c) for c in lg.argsort(descending=True)[:5].tolist())}\n" for i, lg in logits.items()
        )
    )
    assert next(iter(cams.values())).shape == (4, 4)  # raw CAMs: the upsampling path
    for root in (raw_root, full_root):
        out = tmp_path / f"{root.name}.json"
        assert (
            main(
                [
                    "eval-maps",
                    "--scoremap-root",
                    str(root),
                    "--metadata-root",
                    str(synth / "metadata"),
                    "--dataset",
                    "SYNTH",
                    "--mask-dataset",
                    "SYNTH_MASK",
                    "--mask-root",
                    str(synth),
                    "--image-size",
                    "32",
                    "--cam-curve-interval",
                    "0.02",
                    "--predictions",
                    str(pred),
                    "--out",
                    str(out),
                    "--quiet",
                ]
            )
            == 0
        )
        got = json.loads(out.read_text())
        for key in (
            "MaxBoxAcc",
            "MaxBoxAccV2",
            "MaxBoxAccV2@0.3",
            "MaxBoxAccV2@0.5",
            "MaxBoxAccV2@0.7",
            "box_acc_curve_v1",
            "box_acc_curve",
            "GT-known Loc",
            "Top-1 Loc",
            "PxAP",
        ):
            assert got[key] == ref[key], (root.name, key)
        assert got["Top-5 Loc"] >= got["Top-1 Loc"]


# ------------------------------------------------------------------------------------------- CLI and bad input
def test_cli_report_and_preset(hand, tmp_path, capsys):
    out, report = tmp_path / "m.json", tmp_path / "report"
    assert (
        main(
            [
                "eval-maps",
                "--scoremap-root",
                str(hand / "maps"),
                "--metadata-root",
                str(hand / "metadata"),
                "--dataset",
                "HAND",
                "--image-size",
                str(SIZE),
                "--preset",
                "wsolevaluation-cli",
                "--cam-curve-interval",
                "0.25",
                "--out",
                str(out),
                "--report",
                str(report),
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "official (wsolevaluation-cli, IoU 0.5): 33.3333" in printed
    res = json.loads(out.read_text())
    assert res["settings"]["multi_contour"] is False and res["settings"]["iou_thresholds"] == [0.3, 0.5, 0.7]
    assert (report / "report.html").is_file() and (report / "figures" / "box_acc_curves.png").is_file()


def test_presets_follow_the_official_defaults():
    from wsolx.metrics.evaluate_maps import PRESETS

    main_py, cli = PRESETS["wsolevaluation"], PRESETS["wsolevaluation-cli"]
    assert (main_py.cam_curve_interval, main_py.multi_contour, main_py.multi_iou) == (0.001, True, True)
    assert (cli.cam_curve_interval, cli.multi_contour, cli.multi_iou) == (0.01, False, False)
    assert main_py.iou_thresholds == cli.iou_thresholds == (0.3, 0.5, 0.7)


def _cli_error(capsys, hand, *extra, root=None):
    code = main(
        [
            "eval-maps",
            "--scoremap-root",
            str(root or hand / "maps"),
            "--metadata-root",
            str(hand / "metadata"),
            "--dataset",
            "HAND",
            "--image-size",
            str(SIZE),
            "--quiet",
            *extra,
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


def test_bad_maps_are_one_line_errors(hand, capsys):
    maps = hand / "maps"
    (maps / "cls1/c.jpg.npy").unlink()
    err = _cli_error(capsys, hand)
    assert "score map not found" in err and "c.jpg.npy" in err and "line 3 of" in err and "image_ids.txt" in err
    np.save(maps / "cls1/c.jpg.npy", np.zeros((2, SIZE, SIZE)))
    err = _cli_error(capsys, hand)
    assert "c.jpg.npy" in err and "expected a 2-D (H, W) score map, got shape (2, 16, 16)" in err
    nan = np.zeros((SIZE, SIZE))
    nan[3, 3] = np.nan
    np.save(maps / "cls1/c.jpg.npy", nan)
    assert "c.jpg.npy: score map contains NaN (1 of 256 pixels)" in _cli_error(capsys, hand)
    np.save(maps / "cls1/c.jpg.npy", np.full((SIZE, SIZE), 2.0))
    err = _cli_error(capsys, hand)
    assert "c.jpg.npy" in err and "outside [0, 1]" in err and "requires normalised maps" in err
    (maps / "cls1/c.jpg.npy").write_bytes(b"not a numpy file")
    assert "c.jpg.npy: cannot read the score map" in _cli_error(capsys, hand)
    np.save(maps / "cls1/c.jpg.npy", np.zeros((4, 4)))
    assert "expected 16x16" in _cli_error(capsys, hand, "--normalize", "never")
    assert "score map folder not found" in _cli_error(capsys, hand, root=hand / "nope")
    assert "HAND" in _cli_error(capsys, hand, "--split", "val")


def test_out_of_range_full_size_map_is_accepted_when_asked_to_normalise(hand):
    np.save(hand / "maps" / "cls0/a.jpg.npy", hand_maps()["cls0/a.jpg"] * 7.0 - 3.0)
    res = evaluate_scoremaps(
        hand / "maps",
        metadata_root=hand / "metadata",
        dataset="HAND",
        image_size=SIZE,
        cam_curve_interval=0.25,
        normalize="always",
    )
    assert res["official"] == pytest.approx(400 / 9)


def test_bad_in_memory_sources_and_predictions(hand, tmp_path, capsys):
    kw = dict(metadata_root=hand / "metadata", dataset="HAND", image_size=SIZE, cam_curve_interval=0.25)
    maps = hand_maps()
    with pytest.raises(ValueError, match=r"image id 'x.jpg': not in .*image_ids.txt"):
        evaluate_scoremaps({**maps, "x.jpg": np.zeros((4, 4))}, **kw)
    with pytest.raises(ValueError, match=r"no score map for image id 'cls1/b.jpg', line 2 of"):
        evaluate_scoremaps({k: v for k, v in maps.items() if k != "cls1/b.jpg"}, **kw)
    with pytest.raises(ValueError, match=r"item 1: image id 'nope.jpg' is not in"):
        evaluate_scoremaps(iter([("cls0/a.jpg", maps["cls0/a.jpg"]), ("nope.jpg", np.zeros((4, 4)))]), **kw)
    with pytest.raises(ValueError, match=r"item 1: image id 'cls0/a.jpg' given twice"):
        evaluate_scoremaps([("cls0/a.jpg", maps["cls0/a.jpg"])] * 2, **kw)
    with pytest.raises(ValueError, match=r"no score map for 2 image id\(s\)"):
        evaluate_scoremaps([("cls0/a.jpg", torch.from_numpy(maps["cls0/a.jpg"]))], **kw)
    with pytest.raises(ValueError, match="expected a real-valued score map, got dtype bool"):
        evaluate_scoremaps({**maps, "cls0/a.jpg": maps["cls0/a.jpg"] > 0}, **kw)
    with pytest.raises(ValueError, match="unknown preset 'x'"):
        evaluate_scoremaps(maps, preset="x", **kw)
    with pytest.raises(ValueError, match="must contain 0.5"):
        evaluate_scoremaps(maps, iou_thresholds=[0.3], multi_iou=False, **kw)
    pred = tmp_path / "p.csv"
    for text, msg in (
        ("cls0/a.jpg,1\ncls1/b.jpg,x\n", r"p.csv:2: class predictions must be integers"),
        ("cls0/a.jpg,1\nzzz.jpg,0\n", r"p.csv:2: image id 'zzz.jpg' is not in"),
        ("cls0/a.jpg,1\ncls0/a.jpg,0\n", r"p.csv:2: image id 'cls0/a.jpg' given twice"),
        ("cls0/a.jpg\n", r"p.csv:1: expected 'image_id,top1"),
        ("cls0/a.jpg,1\n", r"p.csv: no prediction for 2 image id"),
    ):
        pred.write_text(text)
        with pytest.raises(ValueError, match=msg):
            evaluate_scoremaps(maps, predictions=pred, **kw)
    assert "p.csv: no prediction" in _cli_error(capsys, hand, "--predictions", str(pred))


def test_any_map_size_and_device_batches(hand):
    """A raw CAM of any size (here 5x3) goes through the protocol's upsampling + normalisation."""
    from wsolx.ops import upsample_scoremaps

    rng = np.random.default_rng(3)
    raw = {i: rng.random((5, 3)) for i in hand_maps()}
    kw = dict(metadata_root=hand / "metadata", dataset="HAND", image_size=SIZE, cam_curve_interval=0.05)
    res = evaluate_scoremaps(raw, batch_size=2, device="cpu", **kw)
    full = {i: upsample_scoremaps(torch.from_numpy(m)[None], (SIZE, SIZE))[0].numpy() for i, m in raw.items()}
    assert res["box_acc_curve"] == evaluate_scoremaps(full, **kw)["box_acc_curve"]
    gt = HAND_GT
    curves = oe.box_accuracy(full, gt, np.arange(0, 1, 0.05), [30, 50, 70], True)
    assert res["official"] == oe.headline(curves, True)


def test_mask_settings_errors(synth, tmp_path):
    from wsolx.data import load_metadata

    meta = load_metadata(synth / "metadata" / "SYNTH" / "test")
    maps = random_maps(meta.image_ids, 32)
    kw = dict(metadata_root=synth / "metadata", dataset="SYNTH", image_size=32, cam_curve_interval=0.1)
    with pytest.raises(ValueError, match=r"data set 'SYNTH_MASK' has masks: give the folder .*--mask-root"):
        evaluate_scoremaps(maps, mask_dataset="SYNTH_MASK", **kw)
    with pytest.raises(FileNotFoundError, match="mask file not found"):
        evaluate_scoremaps(maps, mask_dataset="SYNTH_MASK", mask_root=tmp_path, **kw)
    with pytest.raises(
        ValueError, match=r"mask data set 'SYNTH': .*localization.txt has no 'path,mask_path,ignore_path' rows"
    ):
        evaluate_scoremaps(maps, mask_dataset="SYNTH", mask_root=synth, **kw)
