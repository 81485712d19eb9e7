"""Train on your own data: any ``--dataset NAME`` whose ``metadata/NAME/<split>/`` folder exists.

    PYTHONPATH=. python examples/train_own_data.py --out /tmp/wsolx_own_data [--quick]

1. lay out a data set of your own (here: the pictures of the synthetic generator, copied under
   new names into ``<out>/mydata/images/``) and write its metadata in the protocol's layout::

       metadata/MYDATA/{train,val,test}/image_ids.txt        path            (one per line)
       metadata/MYDATA/{train,val,test}/class_labels.txt     path,label
       metadata/MYDATA/{train,val,test}/image_sizes.txt      path,W,H
       metadata/MYDATA/{val,test}/localization.txt           path,x0,y0,x1,y1  (several rows allowed)

   No registration and no ``class_names.txt`` are needed (the number of classes is then the
   largest label + 1). A split whose ``localization.txt`` rows are ``path,mask_path,ignore_path``
   is a mask data set and is evaluated with PxAP;
2. ``wsolx train --dataset MYDATA --arch tv:resnet18 ...``: a torchvision model with TAP (every
   required setting without a published default, here the learning rate and the weight decay,
   must be given; a missing one is reported together with the others);
3. ``wsolx eval`` of the last checkpoint, with and without NWC / PaS.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from wsolx.cli import main as wsolx_main
from wsolx.data import load_metadata, synthetic


def write_own_dataset(src: Path, dst: Path) -> Path:
    """Copy the synthetic images under new names and write MYDATA's metadata; returns the data root."""
    for split in ("train", "val", "test"):
        meta = load_metadata(src / "metadata" / "SYNTH" / split)
        d = dst / "metadata" / "MYDATA" / split
        d.mkdir(parents=True, exist_ok=True)
        ids, labels, sizes, boxes = [], [], [], []
        for k, image_id in enumerate(meta.image_ids):
            new_id = f"images/{split}/class{meta.labels[image_id]}/{k:04d}.png"
            (dst / new_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / image_id, dst / new_id)
            ids.append(new_id)
            labels.append(f"{new_id},{meta.labels[image_id]}")
            w, h = meta.sizes[image_id]
            sizes.append(f"{new_id},{w},{h}")
            for x0, y0, x1, y1 in (meta.boxes or {}).get(image_id, []):
                boxes.append(f"{new_id},{x0:g},{y0:g},{x1:g},{y1:g}")
        (d / "image_ids.txt").write_text("\n".join(ids) + "\n")
        (d / "class_labels.txt").write_text("\n".join(labels) + "\n")
        (d / "image_sizes.txt").write_text("\n".join(sizes) + "\n")
        if boxes and split != "train":
            (d / "localization.txt").write_text("\n".join(boxes) + "\n")
    return dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="wsolx_own_data")
    ap.add_argument("--arch", default="tv:resnet18", help="tv:NAME, timm:NAME or a wsolx model (vgg_tiny, ...)")
    ap.add_argument("--quick", action="store_true", help="small sizes (CI)")
    a = ap.parse_args()
    out = Path(a.out)
    size = 64
    src = synthetic.generate(
        out / "synth",
        num_classes=3,
        train_per_class=6 if a.quick else 60,
        val_per_class=2,
        test_per_class=3 if a.quick else 15,
        image_size=size,
        masks=False,
        progress=False,
    )
    root = write_own_dataset(src, out / "mydata")
    args = [
        "--data-root",
        str(root),
        "--dataset",
        "MYDATA",
        "--image-size",
        str(size),
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--quiet",
    ]
    train = [
        "train",
        "--arch",
        a.arch,
        "--epochs",
        "1" if a.quick else "8",
        "--lr",
        "0.01",
        "--weight-decay",
        "1e-4",
        "--out",
        str(out / "run"),
        "--set",
        "eval.cam_curve_interval=0.05",
        *args,
    ]
    code = wsolx_main(train)
    if code == 0:
        code = wsolx_main(["eval", str(out / "run" / "last.pt"), "--out", str(out / "run" / "eval_test.json"), *args])
    raise SystemExit(code)


if __name__ == "__main__":
    main()
