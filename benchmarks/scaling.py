"""How the cost of cam_boxes grows with the number of maps, thresholds and the image size.

    python benchmarks/scaling.py [--device cpu|cuda] [--repeats 5]

Prints a markdown table (median wall time per call and per map) for RESULTS.md. Maps are
CAM-like: 14x14 random smooth maps upsampled bicubically (the upsampling is included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from cam_cases import random_scoremaps  # noqa: E402

from wsolx import cam_boxes  # noqa: E402


def median_time(fn, repeats: int, device: str) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cams = torch.from_numpy(random_scoremaps(256, (14, 14), seed=0, kinds=["blobs", "cam14"])).to(args.device)
    rows = []
    for n in (16, 64, 256):
        rows.append((n, 100, 224, False))
    for T in (10, 1000):
        rows.append((64, T, 224, False))
    for size in (112, 448):
        rows.append((64, 100, size, False))
    rows.append((64, 100, 224, True))
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| maps | thresholds | image | mode | median ms / call | ms / map |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, T, size, multi in rows:
        thr = torch.tensor(np.arange(0, 1, 1.0 / T))
        t = median_time(
            lambda n=n, thr=thr, size=size, multi=multi: cam_boxes(
                cams[:n], thr, image_size=(size, size), multi_box=multi
            ),
            args.repeats,
            args.device,
        )
        mode = "multi" if multi else "single"
        print(f"| {n} | {T} | {size}x{size} | {mode} | {t * 1e3:.1f} | {t * 1e3 / n:.3f} |")


if __name__ == "__main__":
    main()
