"""Evaluate score maps you already have (``wsolx eval-maps`` / ``wsolx.metrics.evaluate_scoremaps``).

    PYTHONPATH=. python examples/eval_maps.py --out /tmp/wsolx_eval_maps [--quick]

Any method's heat maps can be scored this way; here the "method" is a simple colour-contrast
saliency computed with numpy, saved in the layout of the official evaluator
(``<scoremap_root>/<image_id>.npy``, image ids of ``metadata/<DATASET>/<split>/image_ids.txt``):

* half of the maps are saved at a low resolution (raw CAM-like, 8x8): wsolx upsamples and
  normalises them exactly as the protocol's inference does;
* the other half are saved at the evaluation size, min-max normalised to ``[0, 1]``: used as saved,
  exactly as the official standalone ``evaluation.py --scoremap_root`` uses them.

Then the same numbers are computed through the Python API and through the command line, with
PxAP from the synthetic set's masks, Top-1 / Top-5 Loc from a predictions CSV, and an HTML report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from wsolx.cli import main as wsolx_main
from wsolx.data import load_metadata, synthetic
from wsolx.metrics import evaluate_scoremaps
from wsolx.ops import minmax_normalize


def saliency(image: np.ndarray) -> np.ndarray:
    """Distance of each pixel's colour from the image's median colour: ``(H, W)`` float64."""
    x = image.astype(np.float64)
    return np.linalg.norm(x - np.median(x.reshape(-1, 3), axis=0), axis=2)


def block_mean(m: np.ndarray, k: int) -> np.ndarray:
    """Average ``k x k`` blocks: a low-resolution, CAM-like map."""
    h, w = m.shape
    return m[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="wsolx_eval_maps")
    ap.add_argument("--quick", action="store_true", help="small sizes (CI)")
    a = ap.parse_args()
    out = Path(a.out)
    size = 32 if a.quick else 96
    data = synthetic.generate(
        out / "data",
        num_classes=3,
        train_per_class=1,
        val_per_class=1,
        test_per_class=4 if a.quick else 20,
        image_size=size,
        progress=False,
    )
    meta = load_metadata(data / "metadata" / "SYNTH" / "test")
    maps_root = out / "scoremaps"
    for k, image_id in enumerate(meta.image_ids):
        s = saliency(np.asarray(Image.open(data / image_id).convert("RGB")))
        if k % 2 == 0:
            s = block_mean(s, size // 8)  # raw 8x8 map: upsampled + normalised by wsolx
        else:
            s = minmax_normalize(
                torch.from_numpy(s), dtype=torch.float64
            ).numpy()  # full size, normalised: used as saved
        path = maps_root / f"{image_id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, s)
    # Predictions of a (here: perfect) classifier: image_id,top1,top2,...
    pred = out / "predictions.csv"
    pred.write_text("".join(f"{i},{meta.labels[i]},{(meta.labels[i] + 1) % 3}\n" for i in meta.image_ids))

    res = evaluate_scoremaps(
        maps_root,
        metadata_root=data / "metadata",
        dataset="SYNTH",
        split="test",
        image_size=size,
        mask_dataset="SYNTH_MASK",
        mask_root=data,
        predictions=pred,
        preset="wsolevaluation",
    )
    print(
        f"API: MaxBoxAccV2 {res['MaxBoxAccV2']:.2f}  MaxBoxAcc {res['MaxBoxAcc']:.2f}  "
        f"PxAP {res['PxAP']:.2f}  Top-1 Loc {res['Top-1 Loc']:.2f}"
    )

    code = wsolx_main(
        [
            "eval-maps",
            "--scoremap-root",
            str(maps_root),
            "--metadata-root",
            str(data / "metadata"),
            "--dataset",
            "SYNTH",
            "--mask-dataset",
            "SYNTH_MASK",
            "--mask-root",
            str(data),
            "--image-size",
            str(size),
            "--predictions",
            str(pred),
            "--out",
            str(out / "metrics.json"),
            "--report",
            str(out / "report"),
            "--quiet",
        ]
    )
    if code != 0:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
