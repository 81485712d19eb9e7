"""``wsolx eval-maps``: evaluate score maps saved by any code (see :mod:`wsolx.metrics.evaluate_maps`).

Kept out of :mod:`wsolx.cli` so that the command is one registration there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

__all__ = ["add_eval_maps_parser", "cmd_eval_maps", "format_result"]


def _iou_list(values: Optional[List[float]]) -> Optional[List[float]]:
    """IoU thresholds as fractions; values above 1 are percents (the official ``30 50 70``)."""
    if values is None:
        return None
    return [v / 100.0 if v > 1.0 else v for v in values]


def add_eval_maps_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``eval-maps`` on the ``wsolx`` sub-parsers."""
    s = sub.add_parser(
        "eval-maps",
        help="evaluate saved score maps (<root>/<image_id>.npy): MaxBoxAcc, MaxBoxAccV2, PxAP, Top-1/5 Loc",
        description="Evaluate score maps produced anywhere against the metadata of a split, as the official "
        "WSOL evaluation code does. A map at the evaluation size is used as saved (values in [0, 1]); a map of "
        "another size is a raw CAM, upsampled (float64 bicubic) and min-max normalised as the protocol's "
        "inference does. Preset values may be overridden by every flag.",
    )
    g = s.add_argument_group("input")
    g.add_argument("--scoremap-root", required=True, help="folder of <image_id>.npy score maps")
    g.add_argument("--metadata-root", required=True, help="folder of <DATASET>/<split>/*.txt")
    g.add_argument("--dataset", required=True, help="data set folder under the metadata root (any name)")
    g.add_argument("--split", default="test", help="split (default test; val = train-fullsup)")
    g.add_argument("--image-size", type=int, help="evaluation side; ground truth is mapped to it (default 224)")
    g.add_argument("--mask-root", help="folder the mask paths are relative to (PxAP)")
    g.add_argument("--mask-dataset", help="companion mask data set (rows path,mask_path,ignore_path) for PxAP")
    g.add_argument("--predictions", help="CSV image_id,top1[,top2,...] for Top-1 / Top-5 Loc")
    g = s.add_argument_group("settings")
    g.add_argument(
        "--preset",
        choices=["wsolevaluation", "wsolevaluation-cli"],
        help="wsolevaluation (default; main.py: MaxBoxAccV2, all contours, interval 0.001) or "
        "wsolevaluation-cli (evaluation.py: largest contour, interval 0.01, IoU 50)",
    )
    g.add_argument("--cam-curve-interval", type=float, help="threshold step of the sweep")
    g.add_argument("--iou-thresholds", type=float, nargs="+", help="IoU thresholds, e.g. 30 50 70 or 0.3 0.5 0.7")
    g.add_argument(
        "--multi-contour",
        dest="multi_contour",
        action="store_true",
        default=None,
        help="boxes of every contour for the per-IoU curves (MaxBoxAccV2)",
    )
    g.add_argument("--no-multi-contour", dest="multi_contour", action="store_false", help="largest contour only")
    g.add_argument(
        "--multi-iou", dest="multi_iou", action="store_true", default=None, help="headline = mean over IoU thresholds"
    )
    g.add_argument("--no-multi-iou", dest="multi_iou", action="store_false", help="headline = accuracy at IoU 50")
    g.add_argument("--fixed-threshold", type=float, help="threshold of GT-known / Top-k Loc (default 0.2)")
    g.add_argument("--percentile", type=float, help="standard value of the box thresholds (100: max, 90: PaS)")
    g.add_argument(
        "--normalize",
        choices=["auto", "always", "never"],
        help="auto (default): raw CAMs of another size are upsampled + normalised, full-size maps used "
        "as saved; always: min-max normalise every map; never: every map must be full-size",
    )
    g = s.add_argument_group("run and output")
    g.add_argument("--batch-size", type=int, default=64, help="maps per batch (default 64)")
    g.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    g.add_argument("--workers", type=int, default=4, help="threads reading the .npy files ahead (default 4)")
    g.add_argument("--out", help="JSON file of every number and curve")
    g.add_argument("--report", help="folder for the HTML report")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_eval_maps)
    return s


def format_result(res: Dict[str, Any]) -> str:
    """The metrics as a short table (percent)."""
    from wsolx.engine.logging import format_table

    keys = ["MaxBoxAcc", "MaxBoxAccV2"] + [k for k in res if k.startswith("MaxBoxAccV2@")]
    keys += ["GT-known Loc", "Top-1 Loc", "Top-5 Loc", "Top-1 Cls", "Top-5 Cls", "PxAP"]
    cols = [k for k in keys if isinstance(res.get(k), (int, float))]
    head = f"{res['dataset']}/{res['split']}: {res['num_images']} score maps"
    if "official" in res:
        head += f"; official ({res.get('preset', 'wsolevaluation')}, {res['official_metric']}): {res['official']:.4f}"
    return head + "\n" + format_table([{"variant": "maps", **{k: res[k] for k in cols}}], cols)


def cmd_eval_maps(a: argparse.Namespace) -> int:
    from wsolx.engine.checkpoint import write_file_atomic
    from wsolx.engine.logging import jsonable
    from wsolx.metrics.evaluate_maps import evaluate_scoremaps

    res = evaluate_scoremaps(
        a.scoremap_root,
        metadata_root=a.metadata_root,
        dataset=a.dataset,
        split=a.split,
        image_size=a.image_size,
        mask_root=a.mask_root,
        mask_dataset=a.mask_dataset,
        preset=a.preset,
        cam_curve_interval=a.cam_curve_interval,
        iou_thresholds=_iou_list(a.iou_thresholds),
        multi_contour=a.multi_contour,
        multi_iou=a.multi_iou,
        fixed_threshold=a.fixed_threshold,
        percentile=a.percentile,
        normalize=a.normalize,
        predictions=a.predictions,
        batch_size=a.batch_size,
        device=a.device,
        progress=not a.quiet,
        workers=a.workers,
    )
    print(format_result(res))
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(out, (json.dumps(jsonable(res), indent=2) + "\n").encode())
        print(f"metrics: {out}")
    if a.report:
        from wsolx.report import ReportEntry, write_report

        st = res["settings"]
        entry = ReportEntry(
            label="score maps",
            variant="maps",
            metrics=res,
            top1_cls=res.get("Top-1 Cls"),
            fixed_threshold=st["fixed_threshold"],
        )
        paths = write_report(
            a.report,
            [entry],
            thresholds=res["thresholds"],
            iou_thresholds=st["iou_thresholds"],
            title=f"wsolx eval-maps: {res['dataset']}/{res['split']}",
            intro=f"{res['num_images']} score maps from {a.scoremap_root}.",
            settings={k: v for k, v in st.items()},
        )
        print(f"report:  {paths['html']}")
    return 0
