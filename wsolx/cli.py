"""The ``wsolx`` command line: ``synth``, ``train``, ``eval``, ``demo``, ``info``.

Also reachable as ``python -m wsolx ...`` and ``torchrun --nproc_per_node=N -m wsolx train ...``.
Configuration errors (unknown arch, missing data root, bad numbers) print one line
``wsolx <command>: error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = ["main", "build_parser", "config_from_args"]


# --------------------------------------------------------------------------- helpers
class _UsageError(Exception):
    """A combination of flags that selects nothing (reported like a config error)."""


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
    return load_config(a.config, overrides).validate()


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

    cols = ["GT-known Loc", "Top-1 Loc", "MaxBoxAcc", "MaxBoxAccV2", "PxAP"]
    rows = [{"variant": v, **{k: m.get(k) for k in cols}} for v, m in res["variants"].items()]
    cols = [c for c in cols if any(r.get(c) is not None for r in rows)]
    head = f"{res.get('dataset', '')}/{res.get('split', '')}: {res['num_images']} images, Top-1 Cls {res.get('Top-1 Cls', float('nan')):.2f}"
    return head + "\n" + format_table(rows, cols)


# --------------------------------------------------------------------------- commands
def cmd_info(a: argparse.Namespace) -> int:
    import platform

    import torch

    import wsolx

    info: Dict[str, Any] = {"wsolx": wsolx.__version__, "python": platform.python_version(), **wsolx.backend_info()}
    info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info["distributed"] = {
        "available": torch.distributed.is_available(),
        "gloo": torch.distributed.is_available() and torch.distributed.is_gloo_available(),
        "nccl": torch.distributed.is_available() and torch.distributed.is_nccl_available(),
    }
    try:
        from wsolx.models import list_models

        info["models"] = list(list_models())
    except Exception as exc:  # noqa: BLE001 - info must always print
        info["models"] = f"unavailable ({exc})"
    if a.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print(f"{k.ljust(width)}  {v}")
    return 0


def cmd_synth(a: argparse.Namespace) -> int:
    from wsolx.data.synthetic import generate

    t0 = time.time()
    try:
        root = generate(
            a.root,
            num_classes=a.num_classes,
            train_per_class=a.train_per_class,
            val_per_class=a.val_per_class,
            test_per_class=a.test_per_class,
            image_size=a.image_size,
            seed=a.seed,
            masks=not a.no_masks,
            progress=not a.quiet,
        )
    except ValueError as exc:  # bad sizes or counts: a usage error, not a traceback
        raise _UsageError(str(exc)) from exc
    print(f"wrote the synthetic set to {root} in {time.time() - t0:.1f} s")
    print(f"train on it with: wsolx train --data-root {root} --dataset SYNTH --arch vgg_tiny --out runs/synth")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from wsolx.engine.distributed import cleanup_distributed
    from wsolx.engine.trainer import Trainer

    cfg = config_from_args(a)
    if a.print_config:
        from wsolx.engine.builders import resolve_defaults

        print(json.dumps(resolve_defaults(cfg).to_dict(), indent=2))
        return 0
    try:
        trainer = Trainer(cfg)
        result = trainer.fit()
        if trainer.is_main:
            print(f"best epoch {result.best.get('epoch')} ({result.best.get('metric')} "
                  f"{result.best.get('score', float('nan')):.2f} on {cfg.data.val_split})")
            if result.test is not None:
                print(_print_metrics(result.test))
                print(f"metrics: {Path(cfg.out_dir) / 'metrics.json'}")
    finally:
        cleanup_distributed()
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from wsolx.engine.distributed import cleanup_distributed, is_main_process
    from wsolx.engine.eval_runs import evaluate_checkpoint
    from wsolx.engine.logging import _jsonable

    variants = _variants_from_args(a)
    if not variants:
        raise _UsageError("no variant left after the --nwc/--pas filters")
    try:
        res = evaluate_checkpoint(
            a.checkpoint, split=a.split, overrides=_overrides_from_args(a), variants=variants, device=a.device
        )
        if is_main_process():
            print(_print_metrics(res))
            out = Path(a.out) if a.out else Path(a.checkpoint).parent / f"eval_{a.split}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(_jsonable(res), indent=2) + "\n")
            print(f"metrics: {out}")
    finally:
        cleanup_distributed()
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from wsolx.engine.demo import DemoSettings, run_demo

    kw = dict(
        epochs=a.epochs, image_size=a.image_size, num_classes=a.num_classes, train_per_class=a.train_per_class,
        batch_size=a.batch_size, lr=a.lr, seed=a.seed, device=a.device, examples=a.examples,
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

    s = sub.add_parser("synth", help="generate the synthetic data set (SYNTH boxes, SYNTH_MASK masks)")
    s.add_argument("--root", required=True, help="output folder")
    s.add_argument("--num-classes", type=int, default=10)
    s.add_argument("--train-per-class", type=int, default=100)
    s.add_argument("--val-per-class", type=int, default=10)
    s.add_argument("--test-per-class", type=int, default=20)
    s.add_argument("--image-size", type=int, default=224)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-masks", action="store_true", help="skip the masks and the SYNTH_MASK metadata")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser(
        "train",
        help="train a model (torchrun --nproc_per_node=N -m wsolx train ... for DDP)",
        description="Train, validate every --eval-every epochs, keep best.pt (by validation) and last.pt, "
        "then evaluate best.pt on the test split. Values: --config file < flags < --set.",
    )
    s.add_argument("--config", help="JSON config file (as written to OUT/config.json)")
    _add_data_args(s)
    g = s.add_argument_group("model")
    g.add_argument("--arch", help="backbone (vgg16, resnet50, inception_v3, mobilenet_v1, vgg_tiny, ...)")
    g.add_argument("--method", help="cam, has, acol, spg, adl, cutmix")
    g.add_argument("--pooling", choices=["tap", "gap"], help="TAP (default) or GAP")
    g.add_argument("--tap-theta", type=float, help="TAP threshold ratio (default 0.1)")
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
    g.add_argument("--print-config", action="store_true", help="print the resolved config (defaults filled) and exit")
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
    _add_data_args(s)
    _add_run_args(s)
    s.set_defaults(func=cmd_eval)

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


def _known_errors() -> tuple:
    from wsolx.engine.checkpoint import CheckpointError
    from wsolx.engine.config import ConfigError

    errors: list = [ConfigError, CheckpointError, FileNotFoundError, _UsageError]
    try:
        from wsolx.data import MetadataError

        errors.append(MetadataError)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``wsolx`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args) or 0)
    except _known_errors() as exc:
        msg = exc.args[0] if exc.args else str(exc)
        print(f"wsolx {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except KeyboardInterrupt:
        print(f"wsolx {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
