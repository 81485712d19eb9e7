"""The ``wsolx`` command line: ``synth``, ``train``, ``eval``, ``report``, ``demo``, ``info``.

Also reachable as ``python -m wsolx ...`` and ``torchrun --nproc_per_node=N -m wsolx train ...``.
Configuration errors (unknown arch, missing data root, bad numbers) print one line
``wsolx <command>: error: ...`` and exit with status 2; the mapping of error types to that line is
:mod:`wsolx.errors` (new commands raise its types or an ``OSError`` and get the same treatment).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from wsolx import protocol
from wsolx.data.synthetic import add_synth_parser
from wsolx.errors import UsageError as _UsageError  # flags that select nothing (one mechanism: wsolx/errors.py)
from wsolx.errors import run_command

__all__ = ["main", "build_parser", "config_from_args"]


# --------------------------------------------------------------------------- helpers
def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--data-root", help="folder of the images (synthetic set: the folder `wsolx synth` wrote)")
    g.add_argument("--metadata-root", help="folder of <DATASET>/<split>/*.txt (default: DATA_ROOT/metadata)")
    g.add_argument("--dataset", help="CUB, ILSVRC, OpenImages, SYNTH (default SYNTH)")
    g.add_argument("--mask-dataset", help="companion mask data set for PxAP (e.g. SYNTH_MASK)")
    g.add_argument("--image-size", type=int, help="evaluation input side and ground-truth frame (default 224)")
    g.add_argument("--crop-size", type=int, help="training crop side (default: image size)")
    g.add_argument("--resize-size", type=int, help="training resize before the crop (default: crop * 256/224)")
    g.add_argument("--batch-size", type=int, help="per-process batch (default: model default)")
    g.add_argument("--workers", type=int, help="DataLoader workers per process (default 2)")
    g.add_argument(
        "--num-val-sample-per-class",
        "--num_val_sample_per_class",
        dest="num_val_sample_per_class",
        type=int,
        metavar="N",
        help="validation images kept per class, chosen as the protocol does "
        f"(seeded with --seed; default {protocol.NUM_VAL_SAMPLE_PER_CLASS}: all)",
    )
    g.add_argument(
        "--fractional-gt-boxes",
        action="store_true",
        default=None,
        help="keep scaled ground-truth boxes fractional (default: truncated as the protocol's resize_bbox)",
    )
    g.add_argument(
        "--eval-geometry",
        choices=["protocol", "paper"],
        help="protocol: resize to --image-size; paper: resize 256, centre crop 224 as Bae et al.'s code "
        f"(default {protocol.EVAL_GEOMETRY})",
    )


def _bool_value(v: str) -> bool:
    """``yes/true/t/y/1`` or ``no/false/f/n/0`` (the protocol's ``str2bool``)."""
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {v!r}")


def _iou_percent(v: str) -> float:
    """An IoU threshold in percent (as the protocol's ``--iou_threshold_list``) -> a fraction."""
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IoU threshold in percent, got {v!r}") from None
    if not 0 < x <= 100:
        raise argparse.ArgumentTypeError(f"IoU thresholds are percent in (0, 100], got {v!r}")
    return x / 100.0


def _add_protocol_eval_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("evaluation protocol (wsolevaluation names accepted)")
    g.add_argument(
        "--cam-curve-interval",
        "--cam_curve_interval",
        dest="cam_curve_interval",
        type=float,
        metavar="X",
        help=f"CAM threshold step of the sweep (default {protocol.CAM_CURVE_INTERVAL})",
    )
    g.add_argument(
        "--iou-threshold-list",
        "--iou_threshold_list",
        dest="iou_threshold_list",
        type=_iou_percent,
        nargs="+",
        metavar="PCT",
        help="IoU thresholds of MaxBoxAccV2 in percent (default "
        + " ".join(f"{t * 100:g}" for t in protocol.IOU_THRESHOLDS)
        + ")",
    )
    g.add_argument(
        "--box-v2-metric",
        "--box_v2_metric",
        "--multi-contour-eval",
        "--multi_contour_eval",
        dest="multi_box",
        type=_bool_value,
        nargs="?",
        const=True,
        metavar="BOOL",
        help="MaxBoxAccV2 with the boxes of every contour; false: the largest box only "
        f"(default {str(protocol.MULTI_CONTOUR).lower()})",
    )


def _add_run_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    g.add_argument("--amp", action="store_true", default=None, help="mixed precision (fp16 on CUDA, bf16 on CPU)")
    g.add_argument("--channels-last", action="store_true", default=None, help="NHWC memory format")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config field, e.g. --set optim.lr_gamma=0.5 --set eval.variants=base,nwc (repeatable)",
    )


def _overrides_from_args(a: argparse.Namespace) -> List[str]:
    """``--flag value`` -> ``section.key=value`` for every flag given on the command line."""
    mapping = {
        "data_root": "data.data_root",
        "metadata_root": "data.metadata_root",
        "dataset": "data.dataset",
        "mask_dataset": "data.mask_dataset",
        "image_size": "data.image_size",
        "crop_size": "data.crop_size",
        "resize_size": "data.resize_size",
        "batch_size": "data.batch_size",
        "workers": "data.num_workers",
        "arch": "model.arch",
        "method": "model.method",
        "pooling": "model.pooling",
        "tap_theta": "model.tap_theta",
        "large_feature_map": "model.large_feature_map",
        "weights": "model.weights",
        "epochs": "optim.epochs",
        "lr": "optim.lr",
        "lr_step": "optim.lr_step",
        "weight_decay": "optim.weight_decay",
        "out": "out_dir",
        "seed": "seed",
        "device": "device",
        "amp": "amp",
        "channels_last": "channels_last",
        "eval_every": "eval_every",
        "select_metric": "eval.select_metric",
        "fixed_threshold": "eval.fixed_threshold",
        "pas_percentile": "eval.pas_percentile",
        "pas_threshold": "eval.pas_threshold",
        "log": "loggers",
        "log_images_every": "log_images_every",
        "num_val_sample_per_class": "data.num_val_sample_per_class",
        "fractional_gt_boxes": "data.fractional_gt_boxes",
        "eval_geometry": "data.eval_geometry",
        "cam_curve_interval": "eval.cam_curve_interval",
        "iou_threshold_list": "eval.iou_thresholds",
        "multi_box": "eval.multi_box",
        "test_checkpoint": "test_checkpoint",
    }
    out = []
    for attr, key in mapping.items():
        v = getattr(a, attr, None)
        if v is not None:
            out.append(f"{key}={json.dumps(v)}")
    if getattr(a, "quiet", False):
        out.append("progress=false")
    return out + list(getattr(a, "overrides", []))


def config_from_args(a: argparse.Namespace) -> Any:
    """The :class:`~wsolx.engine.config.Config` of ``wsolx train``: ``--config`` file, flags, ``--set``."""
    from wsolx.engine.config import load_config

    overrides = _overrides_from_args(a)
    if getattr(a, "resume", None) is not None:
        overrides.append(f"resume={json.dumps(a.resume)}")
    if getattr(a, "no_test", False):
        overrides.append("final_test=false")
    return load_config(a.config, overrides)  # validated once resolved (Trainer / --print-config)


def _variants_from_args(a: argparse.Namespace) -> Optional[List[str]]:
    from wsolx.engine.config import VARIANTS

    names = list(VARIANTS) if a.variants in (None, "all") else [v.strip() for v in a.variants.split(",") if v.strip()]
    if a.nwc is not None:
        names = [v for v in names if VARIANTS.get(v, (None, None))[0] == a.nwc]
    if a.pas is not None:
        names = [v for v in names if VARIANTS.get(v, (None, None))[1] == a.pas]
    return names


def _print_metrics(res: Dict[str, Any]) -> str:
    from wsolx.engine.logging import format_table

    cols = ["GT-known Loc", "Top-1 Loc", "MaxBoxAcc", "BoxAcc@val_thr", "MaxBoxAccV2", "BoxAccV2@val_thr", "PxAP"]
    rows = [{"variant": v, **{k: m.get(k) for k in cols}} for v, m in res["variants"].items()]
    cols = [c for c in cols if any(r.get(c) is not None for r in rows)]
    head = f"{res.get('dataset', '')}/{res.get('split', '')}: {res['num_images']} images, Top-1 Cls {res.get('Top-1 Cls', float('nan')):.2f}"
    table = head + "\n" + format_table(rows, cols)
    if any(r.get("BoxAcc@val_thr") is not None for r in rows):
        table += (
            "\nMaxBoxAcc / MaxBoxAccV2: best threshold chosen on this split (oracle); "
            "BoxAcc@val_thr / BoxAccV2@val_thr: at the threshold chosen on the validation split"
        )
    elif "val_threshold_split" in res and res["val_threshold_split"] is None:
        table += "\nno validation split: only the thresholds chosen on this split (MaxBoxAcc, MaxBoxAccV2) are reported"
    return table


# --------------------------------------------------------------------------- commands
def cmd_info(a: argparse.Namespace) -> int:
    import platform

    import torch

    import wsolx
    from wsolx.models import list_models

    info: Dict[str, Any] = {"wsolx": wsolx.__version__, "python": platform.python_version(), **wsolx.backend_info()}
    info.update(_library_versions())
    info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info["distributed"] = {
        "available": torch.distributed.is_available(),
        "gloo": torch.distributed.is_available() and torch.distributed.is_gloo_available(),
        "nccl": torch.distributed.is_available() and torch.distributed.is_nccl_available(),
    }
    info["models"] = list_models()
    if a.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print(f"{k.ljust(width)}  {v}")
    return 0


def _tool_version(name: str) -> Optional[str]:
    """First line of ``name --version`` (``None`` when the tool is absent or fails)."""
    import shutil
    import subprocess

    exe = shutil.which(name)
    if exe is None:
        return None
    try:
        res = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [ln for ln in (res.stdout or res.stderr).splitlines() if ln.strip()]
    if name == "nvcc":  # the release line, e.g. "Cuda compilation tools, release 12.4, V12.4.131"
        lines = [ln for ln in lines if "release" in ln] or lines
    return lines[0].strip() if lines else None


def _library_versions() -> Dict[str, Any]:
    """Versions for bug reports: torchvision, numpy, OpenCV, matplotlib, optional extras, compiler, CUDA build."""
    import importlib
    import platform
    import re

    import torch

    out: Dict[str, Any] = {}
    for mod, key in (
        ("torchvision", "torchvision"),
        ("numpy", "numpy"),
        ("cv2", "opencv"),
        ("matplotlib", "matplotlib"),
        ("tensorboard", "tensorboard"),
        ("yaml", "pyyaml"),
    ):
        try:
            out[key] = importlib.import_module(mod).__version__
        except Exception:  # noqa: BLE001 - an absent or broken optional package is reported, not raised
            out[key] = "not installed"
    show = ""
    try:
        show = torch.__config__.show()
    except Exception:  # noqa: BLE001
        pass
    m = re.search(r"^\s*-\s*((?:GCC|clang|Clang|MSVC|Apple)[^\n]*)", show, re.MULTILINE)
    out["torch_compiler"] = m.group(1).strip() if m else "unknown"
    out["cxx"] = _tool_version("c++") or _tool_version("g++") or "not found"
    out["nvcc"] = _tool_version("nvcc") or "not found"
    out["python_compiler"] = platform.python_compiler()
    out["torch_cuda_build"] = torch.version.cuda or "none (CPU build)"
    out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return out


def cmd_train(a: argparse.Namespace) -> int:
    from wsolx.engine.distributed import cleanup_distributed
    from wsolx.engine.trainer import Trainer

    cfg = config_from_args(a)
    if getattr(a, "report", None) is not None and not cfg.final_test:
        raise _UsageError("--report needs the test metrics: drop --no-test")
    if a.print_config:
        from wsolx.engine.builders import resolve_defaults

        print(json.dumps(resolve_defaults(cfg).to_dict(), indent=2))
        return 0
    try:
        trainer = Trainer(cfg)
        result = trainer.fit()
        if trainer.is_main:
            print(
                f"best epoch {result.best.get('epoch')} ({result.best.get('metric')} "
                f"{result.best.get('score', float('nan')):.2f} on {cfg.data.val_split})"
            )
            if result.test is not None:
                print(_print_metrics(result.test))
                print(f"metrics: {Path(cfg.out_dir) / 'metrics.json'}")
            if getattr(a, "report", None) is not None:
                from wsolx.report.compare import report_for_paths

                out = Path(a.report) if a.report else Path(cfg.out_dir) / "report"
                paths = report_for_paths([cfg.out_dir], out, device=str(trainer.device))
                print(f"report: {paths['html']}")
    finally:
        cleanup_distributed()
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from wsolx.engine.checkpoint import write_file_atomic
    from wsolx.engine.distributed import cleanup_distributed, is_main_process
    from wsolx.engine.eval_runs import evaluate_checkpoint
    from wsolx.engine.logging import jsonable

    variants = _variants_from_args(a)
    if not variants:
        raise _UsageError("no variant left after the --nwc/--pas filters")
    try:
        res = evaluate_checkpoint(
            a.checkpoint,
            split=a.split,
            overrides=_overrides_from_args(a),
            variants=variants,
            device=a.device,
            val_thresholds=not a.no_val_thresholds,
        )
        if is_main_process():
            print(_print_metrics(res))
            out = Path(a.out) if a.out else Path(a.checkpoint).parent / f"eval_{a.split}.json"
            write_file_atomic(out, (json.dumps(jsonable(res), indent=2) + "\n").encode())
            print(f"metrics: {out}")
            if getattr(a, "report", None) is not None:
                from wsolx.report.compare import write_runs_report
                from wsolx.report.runs import run_from_eval

                rdir = Path(a.report) if a.report else out.parent / f"report_{a.split}"
                run = run_from_eval(jsonable(res), out.parent, source=out)
                paths = write_runs_report([run], rdir, device=a.device or "auto", overrides=_overrides_from_args(a))
                print(f"report: {paths['html']}")
    finally:
        cleanup_distributed()
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from wsolx.report.compare import write_runs_report
    from wsolx.report.runs import load_run

    if a.examples < 0:
        raise _UsageError(f"--examples must be >= 0, got {a.examples}")
    if a.scan is not None and a.scan < 1:
        raise _UsageError(f"--scan must be >= 1, got {a.scan}")
    runs = [load_run(p) for p in a.runs]
    overrides = list(a.overrides)
    if a.data_root:
        overrides.append(f"data.data_root={json.dumps(a.data_root)}")
    if a.metadata_root:
        overrides.append(f"data.metadata_root={json.dumps(a.metadata_root)}")
    paths = write_runs_report(
        runs,
        a.out,
        title=a.title,
        examples=a.examples,
        scan=a.scan,
        overlays=not a.no_overlays,
        device=a.device,
        overrides=overrides,
    )
    print(f"report: {paths['html']}")
    print(f"metrics: {paths['metrics']}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from wsolx.apps.demo import DemoSettings, run_demo

    kw = dict(
        epochs=a.epochs,
        image_size=a.image_size,
        num_classes=a.num_classes,
        train_per_class=a.train_per_class,
        batch_size=a.batch_size,
        lr=a.lr,
        seed=a.seed,
        device=a.device,
        examples=a.examples,
    )
    kw = {k: v for k, v in kw.items() if v is not None}
    s = DemoSettings.quick(**kw) if a.quick else DemoSettings(**kw)
    s.out_dir = a.out
    s.progress = not a.quiet
    res = run_demo(s)
    print()
    print(res["table"])
    print()
    print(f"report:  {res['report']}")
    print(f"metrics: {res['metrics']}")
    print(f"runtime: {res['runtime_s'] / 60:.1f} min")
    return 0


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The ``wsolx`` argument parser (sub-commands ``info``, ``synth``, ``train``, ``eval``, ``demo``)."""
    p = argparse.ArgumentParser(
        prog="wsolx",
        description="Weakly supervised object localisation: CAM, TAP, NWC and PaS (Bae et al., ECCV 2020).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("info", help="backend, devices and build of this installation")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_info)

    # ---- synth: the synthetic data set (its parser lives with the generator, wsolx/data/synthetic.py)
    add_synth_parser(sub)

    s = sub.add_parser(
        "train",
        help="train a model (torchrun --nproc_per_node=N -m wsolx train ... for DDP)",
        description="Train, validate every --eval-every epochs, keep best.pt (by validation) and last.pt, "
        "then evaluate --test-checkpoint (default last, as the protocol) on the test split. "
        "Values: --config file < flags < --set.",
    )
    s.add_argument("--config", help="JSON or YAML config file (as written to OUT/config.json / config.yaml)")
    _add_data_args(s)
    _add_protocol_eval_args(s)
    g = s.add_argument_group("model")
    g.add_argument("--arch", help="backbone (vgg16, resnet50, inception_v3, mobilenet_v1, vgg_tiny, ...)")
    g.add_argument("--method", help="cam, has, acol, spg, adl, cutmix")
    g.add_argument("--pooling", choices=["tap", "gap"], help="TAP (default) or GAP")
    g.add_argument("--tap-theta", type=float, help=f"TAP threshold ratio (default {protocol.TAP_THETA:g}, the paper's)")
    g.add_argument("--large-feature-map", action="store_true", default=None, help="28x28 maps at 224 input")
    g.add_argument("--weights", help="local file of pretrained backbone weights")
    g = s.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int)
    g.add_argument("--lr", type=float, help="base lr; new layers get 10x")
    g.add_argument("--lr-step", type=int, help="epochs between lr decays (x0.1); 0: none")
    g.add_argument("--weight-decay", type=float)
    g = s.add_argument_group("output")
    g.add_argument("--out", help="output folder (checkpoints, config.json, log.jsonl, metrics.json)")
    g.add_argument("--seed", type=int)
    g.add_argument("--resume", nargs="?", const="auto", help="resume from a checkpoint (no value: OUT/last.pt)")
    g.add_argument("--eval-every", type=int, help="validate every N epochs (0: only after the last)")
    g.add_argument("--select-metric", help="validation metric that picks best.pt (default MaxBoxAccV2)")
    g.add_argument("--no-test", action="store_true", help="skip the final test evaluation")
    g.add_argument(
        "--test-checkpoint",
        "--eval-checkpoint-type",
        "--eval_checkpoint_type",
        dest="test_checkpoint",
        choices=["last", "best"],
        help=f"checkpoint the final test evaluates (default {protocol.TEST_CHECKPOINT}, as the protocol)",
    )
    g.add_argument("--print-config", action="store_true", help="print the resolved config (defaults filled) and exit")
    g.add_argument(
        "--log",
        help="extra per-epoch logs, comma list of csv (OUT/summary.csv) and tensorboard "
        "(OUT/tensorboard; needs wsolx[tensorboard])",
    )
    g.add_argument(
        "--log-images-every", type=int, help="TensorBoard CAM overlay grid every N epochs (default 5; 0: none)"
    )
    g.add_argument(
        "--report",
        nargs="?",
        const="",
        metavar="DIR",
        help="write the HTML report at the end (default DIR: OUT/report)",
    )
    _add_run_args(s)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "eval",
        help="evaluate a checkpoint (Top-1 Cls, GT-known/Top-1 Loc, MaxBoxAcc, MaxBoxAccV2, PxAP)",
        description="Evaluate best.pt/last.pt on a split with or without NWC and PaS. The stored config is "
        "used; flags override it (e.g. a new --data-root).",
    )
    s.add_argument("checkpoint", help="checkpoint written by `wsolx train`")
    s.add_argument("--split", default="test", help="split to evaluate (default test)")
    s.add_argument("--variants", help="comma list of base, nwc, pas, nwc+pas, or 'all' (default all)")
    s.add_argument("--nwc", dest="nwc", action="store_true", default=None, help="only variants with NWC")
    s.add_argument("--no-nwc", dest="nwc", action="store_false", help="only variants without NWC")
    s.add_argument("--pas", dest="pas", action="store_true", default=None, help="only variants with PaS")
    s.add_argument("--no-pas", dest="pas", action="store_false", help="only variants without PaS")
    s.add_argument("--fixed-threshold", type=float, help="fixed CAM threshold without PaS (default 0.2)")
    s.add_argument("--pas-percentile", type=float, help="PaS percentile (default 90)")
    s.add_argument("--pas-threshold", type=float, help="fixed CAM threshold with PaS (default 0.35)")
    s.add_argument("--out", help="JSON output (default: CHECKPOINT_DIR/eval_SPLIT.json)")
    s.add_argument(
        "--report",
        nargs="?",
        const="",
        metavar="DIR",
        help="write the HTML report at the end (default DIR: CHECKPOINT_DIR/report_SPLIT)",
    )
    s.add_argument(
        "--no-val-thresholds",
        action="store_true",
        help="skip the validation pass that picks the thresholds of BoxAcc@val_thr / BoxAccV2@val_thr",
    )
    _add_data_args(s)
    _add_protocol_eval_args(s)
    _add_run_args(s)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser(
        "report",
        help="HTML report comparing one or several runs (table, curves, overlays)",
        description="One report.html for the runs: the comparison table (oracle and validation-chosen "
        "thresholds), box accuracy against threshold per IoU, PxAP curves, training curves, and CAM overlays "
        "of the best and worst localised test images re-run through each checkpoint.",
    )
    s.add_argument("runs", nargs="+", metavar="RUN_DIR", help="`wsolx train --out` folders or `wsolx eval` JSON files")
    s.add_argument("--out", required=True, help="report folder (report.html, metrics.json, figures/)")
    s.add_argument("--title", help="page title")
    s.add_argument(
        "--examples", type=int, default=8, help="overlay images per variant, half best, half worst (default 8)"
    )
    s.add_argument("--scan", type=int, default=256, help="test images ranked for the overlays (default 256)")
    s.add_argument("--no-overlays", action="store_true", help="do not re-run the checkpoints")
    s.add_argument("--data-root", help="data folder when it moved since training")
    s.add_argument("--metadata-root", help="metadata folder when it moved since training")
    s.add_argument("--device", default="cpu", help="where the checkpoints run for overlays (default cpu)")
    s.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a stored config field for the overlays (repeatable)",
    )
    s.set_defaults(func=cmd_report)

    s = sub.add_parser(
        "demo",
        help="synthetic set -> train CAM and TAP on CPU -> evaluate 4 variants -> report.html",
        description="The end-to-end demo: about 1.5 minutes on 2 idle CPU cores (--quick: about 15 seconds).",
    )
    s.add_argument("--out", default="wsolx_demo", help="output folder (default wsolx_demo)")
    s.add_argument("--quick", action="store_true", help="CI smoke sizes (about 15 seconds)")
    s.add_argument("--epochs", type=int, help="epochs of each training")
    s.add_argument("--image-size", type=int, help="image side in pixels")
    s.add_argument("--num-classes", type=int, help="synthetic classes")
    s.add_argument("--train-per-class", type=int, help="training images per class")
    s.add_argument("--batch-size", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--examples", type=int, help="test images in the overlay figures")
    s.add_argument("--seed", type=int)
    s.add_argument("--device", help="cpu (default), cuda, auto")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_demo)

    # ---- eval-maps: score maps saved by any code (wsolx/cli_eval_maps.py)
    from wsolx.cli_eval_maps import add_eval_maps_parser

    add_eval_maps_parser(sub)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``wsolx`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return run_command(args.command, func, args)


if __name__ == "__main__":
    sys.exit(main())
