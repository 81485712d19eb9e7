"""Localise with your own model: CAMs, boxes and logits of a torchvision / timm classifier.

    PYTHONPATH=. python examples/localize_own_model.py --out /tmp/wsolx_localize [--quick]
    PYTHONPATH=. python examples/localize_own_model.py --model timm:resnet18 --weights resnet18.pth

1. build a classifier wsolx did not build (torchvision ``resnet18`` by default, or ``timm:NAME``),
   optionally from a local ImageNet state dict (``--weights``; nothing is downloaded), with a new
   ``Linear`` classifier for the data set's classes;
2. ``wsolx.swap_pooling(model, wsolx.TAPool(0.1))``: Thresholded Average Pooling instead of GAP;
3. fine-tune it for a few steps on a synthetic WSOL set;
4. ``wsolx.localize(model, images)``: CAMs of the predicted class (as grad-cam / torch-cam do),
   the box at threshold 0.2, the logits, one forward pass and no hooks; once more with Negative
   Weight Clamping and Percentile as a Standard (``clamp_negative=True, percentile=90,
   threshold=0.35``); the boxes are scored against the ground truth (IoU >= 0.5).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

import wsolx
from wsolx.data import collate_with_index, get_dataset, synthetic
from wsolx.metrics import box_iou


def build(name: str, weights: str, num_classes: int) -> nn.Module:
    if name.startswith("timm:"):
        import timm

        model = timm.create_model(name[5:], pretrained=False)
        if weights:
            model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        model.reset_classifier(num_classes)
        return model
    import torchvision

    model = torchvision.models.get_model(name.removeprefix("tv:"), weights=None)
    if weights:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # ResNet-style head
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="wsolx_localize")
    ap.add_argument("--model", default="tv:resnet18", help="tv:NAME (ResNet family) or timm:NAME")
    ap.add_argument("--weights", default="", help="local state dict of the ImageNet model")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--quick", action="store_true", help="small sizes (CI)")
    a = ap.parse_args()
    torch.manual_seed(0)
    size = 64 if a.quick else 128
    steps = 3 if a.quick else a.steps
    root = synthetic.generate(
        Path(a.out) / "data",
        num_classes=3,
        train_per_class=8 if a.quick else 40,
        val_per_class=1,
        test_per_class=3 if a.quick else 10,
        image_size=size,
        progress=False,
    )
    train = get_dataset("SYNTH", root, root / "metadata", "train", train=True, image_size=size)
    test = get_dataset("SYNTH", root, root / "metadata", "test", train=False, image_size=size)

    model = build(a.model, a.weights, train.num_classes)
    wsolx.swap_pooling(model, wsolx.TAPool(0.1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = DataLoader(train, batch_size=16, shuffle=True, collate_fn=collate_with_index)
    model.train()
    step = 0
    while step < steps:
        for images, labels, _ in loader:
            loss = nn.functional.cross_entropy(model(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step >= steps:
                break
    print(f"fine-tuned {a.model} with TAP for {steps} steps (last loss {loss.item():.3f})")

    model.eval()
    images, labels, idx = collate_with_index([test[i] for i in range(len(test))])
    gt = [test.gt_boxes(int(i)) for i in idx]
    with torch.no_grad():
        for name, kw in (("CAM", {}), ("CAM+NWC+PaS", dict(clamp_negative=True, percentile=90, threshold=0.35))):
            out = wsolx.localize(model, images, **kw)  # labels=None: the predicted class
            hits = sum(float(box_iou(out.boxes[k].double()[None], g.double()).max()) >= 0.5 for k, g in enumerate(gt))
            acc = (out.labels == labels).float().mean().item() * 100
            print(
                f"{name:12s} CAMs {tuple(out.cams.shape)}  boxes {tuple(out.boxes.shape)}  "
                f"Top-1 Cls {acc:.1f}  localised (IoU >= 0.5) {100 * hits / len(gt):.1f}%"
            )
        print("first image: box", out.boxes[0].tolist(), "GT", gt[0][0].tolist())


if __name__ == "__main__":
    main()
