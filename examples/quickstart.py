"""Quickstart: the Python API end to end on a small synthetic set (a few minutes on a CPU).

    PYTHONPATH=. python examples/quickstart.py --out /tmp/wsolx_quickstart

1. generate a synthetic WSOL set (boxes + masks),
2. train the tiny VGG with TAP for a few epochs (best checkpoint picked on the val split),
3. evaluate the checkpoint with and without NWC / PaS,
4. write an HTML report with CAM overlays and box-accuracy curves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wsolx.data import synthetic
from wsolx.engine import (
    Config,
    DataConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    Trainer,
    build_dataset,
    collect_examples,
    evaluate_checkpoint,
    format_table,
    variant_settings,
)
from wsolx.metrics import cam_thresholds
from wsolx.report import ReportEntry, write_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="wsolx_quickstart")
    p.add_argument("--epochs", type=int, default=6)
    args = p.parse_args()
    out = Path(args.out)

    # 1. data: <out>/data/images, <out>/data/metadata/{SYNTH,SYNTH_MASK}/{train,val,test}
    root = synthetic.generate(
        out / "data", num_classes=4, train_per_class=40, val_per_class=5, test_per_class=10, image_size=64, seed=0
    )

    # 2. training (SGD Nesterov, step schedule; None fields come from wsolx.models.DEFAULTS)
    cfg = Config(
        data=DataConfig(
            dataset="SYNTH", data_root=str(root), mask_dataset="SYNTH_MASK", image_size=64, batch_size=32, num_workers=0
        ),
        model=ModelConfig(arch="vgg_tiny", pooling="tap", tap_theta=0.1),
        optim=OptimConfig(lr=0.01, epochs=args.epochs),
        eval=EvalConfig(variants=["base", "nwc+pas"]),
        out_dir=str(out / "run"),
        device="cpu",
    )
    trainer = Trainer(cfg)
    result = trainer.fit()
    print(f"best epoch {result.best['epoch']} by val {result.best['metric']}")

    # 3. evaluation of the saved checkpoint, all four variants
    res = evaluate_checkpoint(out / "run" / "best.pt", split="test", variants=["base", "nwc", "pas", "nwc+pas"])
    rows = [{"variant": v, **m} for v, m in res["variants"].items()]
    print(format_table(rows, ["GT-known Loc", "Top-1 Loc", "MaxBoxAcc", "MaxBoxAccV2", "PxAP"]))

    # 4. report
    test_set = build_dataset(cfg, "test", train=False)
    variants = list(res["variants"])
    examples = collect_examples(
        trainer.model, test_set, list(range(0, len(test_set), 5))[:8], cfg.eval, variants=variants
    )
    entries = [
        ReportEntry(
            label=f"TAP [{v}]",
            variant=v,
            metrics=m,
            top1_cls=res["Top-1 Cls"],
            examples=examples,
            fixed_threshold=variant_settings(v, cfg.eval)[2],
        )
        for v, m in res["variants"].items()
    ]
    paths = write_report(
        out / "report", entries, thresholds=cam_thresholds(cfg.eval.cam_curve_interval), title="wsolx quickstart"
    )
    print(f"report: {paths['html']}")


if __name__ == "__main__":
    main()
