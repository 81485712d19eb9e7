"""The box kernel (csrc/ops/boxes/) built as a plain C++ program in configurations the extension does not use
here, against the OpenCV implementation of the protocol (bit-exact).

The CUDA kernel runs the header's portable code with one column stripe; no GPU is needed to check
that arithmetic: ``-DWSOLX_BOXES_NO_SIMD -DWSOLX_BOXES_STRIPES=1`` compiles exactly that path for
the CPU. Other stripe counts check the stripe-edge rules of the occupancy codes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
from cam_cases import KINDS, random_scoremaps  # noqa: E402
from protocol_cv2 import protocol_cam_boxes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "tests", "native", "boxes_core_driver.cpp")
CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")

CONFIGS = {
    "cuda-path": ["-DWSOLX_BOXES_NO_SIMD", "-DWSOLX_BOXES_STRIPES=1"],
    "simd-3-stripes": ["-DWSOLX_BOXES_STRIPES=3"],
    "portable-8-stripes": ["-DWSOLX_BOXES_NO_SIMD"],
}

pytestmark = pytest.mark.skipif(CXX is None or sys.platform == "win32", reason="no C++ compiler")


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def driver(request, tmp_path_factory) -> str:
    exe = str(tmp_path_factory.mktemp("driver") / f"boxes_{request.param}")
    cmd = [CXX, "-O2", "-std=c++17", "-ffp-contract=off", *CONFIGS[request.param], "-I", os.path.join(ROOT, "csrc")]
    subprocess.run(cmd + [DRIVER, "-o", exe], check=True, capture_output=True, text=True)
    return exe


def run_driver(
    exe: str, tmp_path, maps: np.ndarray, image_size, thresholds, percentile: float, multi: bool, paper: bool = False
) -> list:
    n, h, w = maps.shape
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with open(src, "wb") as f:
        hdr = [n, h, w, image_size[0], image_size[1], len(thresholds), int(multi), 1, int(paper)]
        f.write(np.array(hdr, dtype=np.int32).tobytes())
        f.write(np.ascontiguousarray(maps, dtype=np.float32).tobytes())
        f.write(np.asarray(thresholds, dtype=np.float64).tobytes())
        f.write(np.array([percentile], dtype=np.float64).tobytes())
    subprocess.run([exe, str(src), str(dst)], check=True)
    raw = np.fromfile(dst, dtype=np.int32)
    if not multi:
        return raw.reshape(n, len(thresholds), 4).tolist()
    out, pos = [], 0
    for _ in range(n):
        per_map = []
        for _ in thresholds:
            c = int(raw[pos])
            per_map.append([tuple(b) for b in raw[pos + 1 : pos + 1 + 4 * c].reshape(c, 4).tolist()])
            pos += 1 + 4 * c
        out.append(per_map)
    assert pos == raw.size
    return out


SIZES = [(1, 1), (1, 9), (6, 1), (3, 4), (7, 5), (31, 17), (64, 64), (100, 37), (224, 224)]
THRESHOLDS = {"arange100": list(np.arange(0, 1, 0.01)), "edge": [-0.5, 0.0, 0.3, 0.3, 0.999, 1.0, 2.0]}


def check_driver(driver, tmp_path, maps, image_size, thresholds, percentile, paper=False):
    single = run_driver(driver, tmp_path, maps, image_size, thresholds, percentile, False, paper)
    multi = run_driver(driver, tmp_path, maps, image_size, thresholds, percentile, True, paper)
    rule = "paper" if paper else "protocol"
    for i in range(maps.shape[0]):
        ref_single = protocol_cam_boxes(maps[i], image_size, thresholds, percentile, False, box_rule=rule)
        ref_multi = protocol_cam_boxes(maps[i], image_size, thresholds, percentile, True, box_rule=rule)
        assert single[i] == [b[0] for b in ref_single], f"map {i} single"
        assert multi[i] == [sorted(map(tuple, b)) for b in ref_multi], f"map {i} multi"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("percentile", [100.0, 90.0])
@pytest.mark.parametrize("thr", sorted(THRESHOLDS))
def test_header_configs_match_protocol(driver, tmp_path, size, percentile, thr):
    """Score maps at the image size (the copy path of the resize)."""
    n = 2 * len(KINDS) if size[0] * size[1] <= 4096 else len(KINDS)
    maps = random_scoremaps(n, size, seed=7 + size[0] * 31 + size[1], kinds=list(KINDS))
    check_driver(driver, tmp_path, maps, size, THRESHOLDS[thr], percentile)


@pytest.mark.parametrize(
    "cam_size,image_size", [((14, 14), (224, 224)), ((7, 9), (60, 44)), ((1, 5), (9, 30)), ((40, 33), (17, 21))]
)
@pytest.mark.parametrize("paper", [False, True])
def test_header_configs_resize_match_protocol(driver, tmp_path, cam_size, image_size, paper):
    """Raw CAMs resized inside the header (cv2.resize float64 INTER_CUBIC), both box rules."""
    maps = random_scoremaps(12, cam_size, seed=3 + cam_size[0], kinds=["blobs", "noise", "cam14", "binary_noise"])
    check_driver(driver, tmp_path, maps, image_size, THRESHOLDS["arange100"], 100.0, paper)
