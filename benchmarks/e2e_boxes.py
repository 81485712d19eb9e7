"""Raw CAMs -> boxes end to end: wsolx ``cam_boxes`` against the official pipeline, side by side.

Both sides start from the same raw ``(N, 14, 14)`` float32 CAMs and produce the boxes at 224x224:

* wsolx: one ``cam_boxes`` call on the raw CAMs (resize, normalisation, quantisation and boxes
  fused in the C++ kernel), torch with ``--threads`` threads;
* official: per map ``cv2.resize`` of the float64 CAM (INTER_CUBIC), ``normalize_scoremap`` in
  float64, ``(s * 255).astype(uint8)``, then one ``cv2.threshold`` + ``cv2.findContours`` +
  ``contourArea`` / ``boundingRect`` per threshold (the transcription in ``tests/protocol_cv2.py``).

Rounds of the two sides alternate, so both run under the same machine load; the table reports the
median per-map cost of each side and their ratio. The boxes of both sides are compared first
(they must be identical).

Run: ``PYTHONPATH=$PWD python benchmarks/e2e_boxes.py [--maps 16] [--rounds 5] [--threads 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import cv2  # noqa: E402
from cam_cases import random_scoremaps  # noqa: E402
from protocol_cv2 import protocol_cam_boxes  # noqa: E402

from wsolx import backend  # noqa: E402
from wsolx.ops import cam_boxes  # noqa: E402


def official(cams: np.ndarray, thresholds: np.ndarray, multi: bool) -> list:
    return [protocol_cam_boxes(c, (224, 224), thresholds, 100.0, multi) for c in cams]


def same_boxes(cams: torch.Tensor, thresholds: np.ndarray, multi: bool) -> bool:
    ref = official(cams.numpy(), thresholds, multi)
    got = cam_boxes(cams, thresholds, image_size=(224, 224), multi_box=multi)
    if not multi:
        return got.tolist() == [[b[0] for b in per_map] for per_map in ref]
    rows, counts = got.boxes.tolist(), got.counts.flatten().tolist()
    pos, groups = 0, []
    for c in counts:
        groups.append(sorted(map(tuple, rows[pos : pos + c])))
        pos += c
    flat_ref = [sorted(map(tuple, g)) for per_map in ref for g in per_map]
    return groups == flat_ref


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--maps", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per side (medians)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--thresholds", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--modes", nargs="+", default=["single", "multi"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cams = torch.from_numpy(random_scoremaps(args.maps, (14, 14), seed=0, kinds=["blobs", "cam14"]))
    np_cams = cams.numpy()
    print(
        f"backend: {backend()}, torch threads {torch.get_num_threads()}, cv2 {cv2.__version__} "
        f"threads {cv2.getNumThreads()}, maps {args.maps} (14x14 -> 224x224), load {os.getloadavg()}"
    )
    print("| mode | T | wsolx ms / map | official ms / map | official / wsolx |")
    print("| --- | --- | --- | --- | --- |")
    for mode in args.modes:
        multi = mode == "multi"
        for t in args.thresholds:
            thresholds = np.arange(0, 1, 1.0 / t)
            if not same_boxes(cams, thresholds, multi):
                raise SystemExit(f"boxes differ ({mode}, T={t})")
            ours, theirs = [], []
            cam_boxes(cams, thresholds, image_size=(224, 224), multi_box=multi)  # warm-up
            for _ in range(args.rounds):
                # wsolx is fast: time 5 calls per round so its sample is not a single short call.
                ours.append(
                    timed(lambda t=thresholds, m=multi: [cam_boxes(cams, t, multi_box=m) for _ in range(5)]) / 5
                )
                theirs.append(timed(lambda t=thresholds, m=multi: official(np_cams, t, m)))
            a, b = statistics.median(ours) / args.maps * 1e3, statistics.median(theirs) / args.maps * 1e3
            print(f"| {mode} | {t} | {a:.3f} | {b:.2f} | **{b / a:.1f}x** |", flush=True)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
