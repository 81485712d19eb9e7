"""Print one ratio table from a pytest-benchmark JSON file.

    pytest benchmarks/ --benchmark-json=bench.json && python benchmarks/summary.py bench.json

Times are medians. For cam_boxes the cost per map (median / number of maps) is compared, since
the slow baselines run on fewer maps.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def load(path: str) -> dict:
    with open(path) as f:
        data = json.load(f)
    groups: dict = defaultdict(dict)
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        key = info.get("impl") or info.get("pooling") or info.get("device") or b["name"]
        per = info.get("maps", 1) if b["group"].startswith("cam_boxes") else 1
        groups[b["group"]][key] = b["stats"]["median"] / per
    return groups


def main(argv: list) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    groups = load(argv[1])
    rows = []
    for group, times in sorted(groups.items()):
        if group.startswith("tap") and "wsolx" in times:
            w = times["wsolx"]
            for other in ("eager", "compiled", "gap"):
                if other in times:
                    rows.append((group, f"{other} / wsolx", times[other] / w, w))
        elif group.startswith("cam_boxes"):
            for kernel in ("wsolx-cpu", "wsolx-cuda"):
                if kernel not in times:
                    continue
                for other in ("opencv", "official", "fallback"):
                    if other in times:
                        rows.append((group, f"{other} / {kernel}", times[other] / times[kernel], times[kernel]))
        elif group.startswith("eval-maps"):
            for kernel in ("wsolx-cpu", "wsolx-cuda"):
                if kernel in times and "transcription" in times:
                    rows.append(
                        (group, f"transcription / {kernel}", times["transcription"] / times[kernel], times[kernel])
                    )
        elif group.startswith("train step") and {"tap", "gap"} <= set(times):
            rows.append((group, "tap / gap", times["tap"] / times["gap"], times["tap"]))
        else:
            for key, t in times.items():
                rows.append((group, key, float("nan"), t))
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'group':<{width}}  {'ratio':<22} {'x':>8}  {'wsolx median (ms)':>18}")
    for group, name, ratio, t in rows:
        print(f"{group:<{width}}  {name:<22} {ratio:>8.2f}  {t * 1e3:>18.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
