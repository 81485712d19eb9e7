"""Evaluation loop: classification accuracy and localisation metrics for several CAM variants.

One pass over a split computes the logits once and the CAMs of the ground-truth class once per
NWC setting, and feeds one :class:`wsolx.metrics.BoxEvaluator` (and :class:`MaskEvaluator` when
the split has pixel masks) per variant:

========  =====  =====================================================================
variant   NWC    standard value / fixed threshold
========  =====  =====================================================================
base      off    max (percentile 100), ``eval.fixed_threshold`` (paper: 0.2)
nwc       on     max, ``eval.fixed_threshold``
pas       off    ``eval.pas_percentile`` (paper: 90), ``eval.pas_threshold`` (paper: 0.35)
nwc+pas   on     ``eval.pas_percentile``, ``eval.pas_threshold``
========  =====  =====================================================================

Under ``torchrun`` every rank evaluates an exact shard (:class:`ShardSampler`, no duplicates) and
the metric counters are summed with ``all_reduce`` before :meth:`compute`, so the numbers equal
those of one process.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from wsolx.data import collate_with_index
from wsolx.engine.config import VARIANTS, EvalConfig
from wsolx.engine.distributed import ShardSampler, all_reduce_sum, is_main_process

__all__ = ["evaluate", "VariantMetrics", "collect_examples", "variant_settings", "autocast"]


def variant_settings(variant: str, cfg: EvalConfig) -> Tuple[bool, float, float]:
    """``(nwc, percentile, fixed_threshold)`` of a variant name."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {sorted(VARIANTS)}")
    nwc, pas = VARIANTS[variant]
    if pas:
        return nwc, float(cfg.pas_percentile), float(cfg.pas_threshold)
    return nwc, 100.0, float(cfg.fixed_threshold)


def autocast(device: torch.device, enabled: bool):
    """``torch.autocast`` with float16 on CUDA and bfloat16 on CPU, or a null context."""
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


class VariantMetrics:
    """The metric accumulators of one variant (boxes, and masks when available)."""

    def __init__(
        self,
        variant: str,
        cfg: EvalConfig,
        image_size: Tuple[int, int],
        boxes: bool,
        masks: bool,
        device: torch.device,
        geometry: str = "protocol",
    ):
        from wsolx.metrics import BoxEvaluator, MaskEvaluator

        self.variant = variant
        self.nwc, self.percentile, self.fixed_threshold = variant_settings(variant, cfg)
        thresholds = np.arange(0.0, 1.0, cfg.cam_curve_interval)
        self.box = (
            BoxEvaluator(
                thresholds=thresholds,
                iou_thresholds=tuple(cfg.iou_thresholds),
                image_size=image_size,
                percentile=self.percentile,
                fixed_threshold=self.fixed_threshold,
                multi_box=cfg.multi_box,
                device=device,
            )
            if boxes
            else None
        )
        self.mask = (
            MaskEvaluator(thresholds=thresholds, image_size=image_size, percentile=self.percentile, device=device)
            if masks
            else None
        )
        # The paper geometry reports GT-known / Top-1 Loc with the paper's box rule (wsolx.metrics.paper_loc).
        self.paper_fixed = _paper_fixed(geometry, boxes, self.fixed_threshold, self.percentile, image_size, device)

    def update(
        self, cams: Tensor, labels: Tensor, preds: Tensor, gt_boxes: Optional[List[Tensor]], gt_masks: Optional[list]
    ) -> None:
        if self.box is not None:
            self.box.update(cams, gt_boxes, gt_labels=labels, pred_labels=preds)
        if self.paper_fixed is not None:
            self.paper_fixed.update(cams, gt_boxes, gt_labels=labels, pred_labels=preds)
        if self.mask is not None:
            self.mask.update(cams, [m for m, _ in gt_masks], [g for _, g in gt_masks])

    def all_reduce(self) -> None:
        if self.box is not None:
            self.box.all_reduce()
        if self.paper_fixed is not None:
            self.paper_fixed.all_reduce()
        if self.mask is not None:
            self.mask.all_reduce()

    def compute(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if self.box is not None:
            out.update(self.box.compute())
        if self.paper_fixed is not None:
            out.update(self.paper_fixed.compute())
            out["fixed_box_rule"] = "paper"
        if self.mask is not None:
            mask = self.mask.compute()
            mask["pxap_curve"] = mask.pop("curve")
            out.update(mask)
        out["nwc"] = self.nwc
        out["percentile"] = self.percentile
        out["fixed_threshold"] = self.fixed_threshold
        return out


def _paper_fixed(
    geometry: str, boxes: bool, threshold: float, percentile: float, image_size: Tuple[int, int], device: torch.device
) -> Any:
    """A :class:`wsolx.metrics.paper_loc.PaperFixedLocalization` for the paper geometry, else ``None``."""
    if geometry != "paper" or not boxes:
        return None
    from wsolx.engine.config import ConfigError
    from wsolx.metrics.box_rule import supports_box_rule
    from wsolx.metrics.paper_loc import PaperFixedLocalization

    if not supports_box_rule():
        raise ConfigError(
            "data.eval_geometry=paper needs the paper's box rule, i.e. "
            "wsolx.ops.cam_boxes(..., box_rule='paper'), which this build's op lacks"
        )
    return PaperFixedLocalization(threshold=threshold, percentile=percentile, image_size=image_size, device=device)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Any,
    cfg: EvalConfig,
    *,
    variants: Optional[Sequence[str]] = None,
    device: torch.device = torch.device("cpu"),
    batch_size: int = 32,
    num_workers: int = 0,
    amp: bool = False,
    channels_last: bool = False,
    progress: bool = True,
    desc: str = "eval",
) -> Dict[str, Any]:
    """Evaluate ``model`` on ``dataset`` (this rank's exact shard; counters all-reduced).

    Args:
        model: a wsolx model (``model(x) -> (B, K)`` logits, ``model.cams(x, labels, clamp_negative)``).
        dataset: a :class:`wsolx.data.WSOLDataset` in evaluation mode: items ``(image (3, S, S), label,
            index)``, ``gt_boxes(i) -> (G, 4)`` in network coordinates, ``has_masks``/``gt_mask(i)``.
        cfg: evaluation section of the config.
        variants: variant names (default ``cfg.variants``).
        device: where the model runs.
        batch_size / num_workers: DataLoader settings.
        amp / channels_last: inference precision and memory format.
        progress: tqdm bar (main process only).
        desc: progress-bar label.

    Returns:
        ``{"num_images": int, "Top-1 Cls": float, "variants": {name: {metric: value}}}`` with the
        metric names of :class:`BoxEvaluator` / :class:`MaskEvaluator` (e.g. ``MaxBoxAccV2``,
        ``GT-known Loc``, ``Top-1 Loc``, ``box_acc_curve``, ``PxAP``).
    """
    from wsolx.metrics import ClassificationAccuracy

    variants = list(variants or cfg.variants)
    if len(dataset) == 0:
        raise ValueError(f"{desc}: the data set is empty")
    side = getattr(dataset, "image_size", None)
    if side is None:  # a data set without the attribute: look at one input
        side = int(dataset[0][0].shape[-1])
    image_size = (int(side), int(side))
    boxes = bool(getattr(dataset, "has_boxes", True))
    masks = bool(getattr(dataset, "has_masks", False))
    if not (boxes or masks):
        raise ValueError(f"{desc}: the data set has neither boxes nor masks to evaluate localisation on")
    geometry = getattr(dataset, "eval_geometry", "protocol")
    metrics = {v: VariantMetrics(v, cfg, image_size, boxes, masks, device, geometry) for v in variants}
    cls_acc = ClassificationAccuracy(device=device)
    clamp_settings = sorted({m.nwc for m in metrics.values()})

    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset)),
        num_workers=num_workers,
        collate_fn=collate_with_index,
        pin_memory=device.type == "cuda",
    )
    was_training = model.training
    model.eval()
    n_local = 0
    bar = tqdm(loader, desc=desc, disable=not (progress and is_main_process()), leave=False, dynamic_ncols=True)
    for images, labels, indices in bar:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.to(device)
        with autocast(device, amp):
            logits, cams = logits_and_cams(model, images, labels, clamp_settings)
        preds = logits.argmax(dim=1)
        cls_acc.update(logits.float(), labels)
        idx = indices.tolist()
        gt_boxes = [dataset.gt_boxes(i) for i in idx] if boxes else None
        gt_masks = [dataset.gt_mask(i) for i in idx] if masks else None
        for m in metrics.values():
            m.update(cams[m.nwc], labels, preds, gt_boxes, gt_masks)
        n_local += len(idx)
    bar.close()
    model.train(was_training)

    cls_acc.all_reduce()
    for m in metrics.values():
        m.all_reduce()
    n = torch.tensor([n_local], dtype=torch.long)
    all_reduce_sum(n)
    out: Dict[str, Any] = {"num_images": int(n.item())}
    out.update(cls_acc.compute())
    out["variants"] = {v: m.compute() for v, m in metrics.items()}
    return out


def _shares_features(model: nn.Module) -> bool:
    """True when ``model.cams`` is the plain CAM of ``forward_features`` (no method override), so
    logits and CAMs can come from one forward pass."""
    method = getattr(model, "method", None)
    if method is None or not all(hasattr(model, a) for a in ("forward_features", "forward_head", "fc_weight")):
        return False
    from wsolx.methods.base import WSOLMethod
    from wsolx.models.base import WSOLModel

    return type(method).cams is WSOLMethod.cams and type(model).forward is WSOLModel.forward


def logits_and_cams(
    model: nn.Module, images: Tensor, labels: Tensor, clamp_settings: Sequence[bool]
) -> Tuple[Tensor, Dict[bool, Tensor]]:
    """Logits ``(B, K)`` and the raw CAMs ``(B, h, w)`` of ``labels`` for each NWC setting.

    One forward pass when the model's CAM is the plain CAM of its features; otherwise
    ``model(x)`` plus one ``model.cams`` call per setting.
    """
    if _shares_features(model):
        from wsolx.ops import cam

        feats = model.forward_features(images)
        logits = model.forward_head(feats)
        return logits, {c: cam(feats, model.fc_weight, labels, c).float() for c in clamp_settings}
    logits = model(images)
    return logits, {c: model.cams(images, labels, clamp_negative=c).float() for c in clamp_settings}


@torch.no_grad()
def collect_examples(
    model: nn.Module,
    dataset: Any,
    indices: Sequence[int],
    cfg: EvalConfig,
    *,
    variants: Sequence[str],
    device: torch.device = torch.device("cpu"),
) -> List[Dict[str, Any]]:
    """CAMs, boxes and images of a few evaluation images, for the report's overlay figures.

    Returns:
        One dict per image: ``index``, ``label``, ``pred``, ``image`` ``(S, S, 3)`` uint8, ``gt_boxes``
        ``(G, 4)`` and per variant (``cams[v]`` ``(S, S)`` float in [0, 1], ``boxes[v]`` ``[x0, y0, x1, y1]``
        at the variant's fixed threshold).
    """
    from wsolx.ops import cam_boxes, upsample_scoremaps

    was_training = model.training
    model.eval()
    items = [dataset[i] for i in indices]
    images = torch.stack([it[0] for it in items]).to(device)
    labels = torch.as_tensor([it[1] for it in items], dtype=torch.long, device=device)
    size = (int(images.shape[-2]), int(images.shape[-1]))
    settings = {v: variant_settings(v, cfg) for v in variants}
    logits, raw_cams = logits_and_cams(model, images, labels, sorted({nwc for nwc, _, _ in settings.values()}))
    preds = logits.argmax(1)
    out: List[Dict[str, Any]] = []
    for k, i in enumerate(indices):
        out.append(
            {
                "index": int(i),
                "label": int(labels[k]),
                "pred": int(preds[k]),
                "image": _display_image(images[k]),
                "gt_boxes": dataset.gt_boxes(int(i)).cpu().numpy().reshape(-1, 4)
                if getattr(dataset, "has_boxes", True)
                else np.zeros((0, 4)),
                "cams": {},
                "boxes": {},
            }
        )
    for v, (nwc, percentile, thr) in settings.items():
        raw = raw_cams[nwc]
        boxes = cam_boxes(raw, [thr], image_size=size, percentile=percentile)[:, 0].cpu().numpy()
        norm = upsample_scoremaps(raw, size).cpu().numpy()  # the protocol's score maps, in [0, 1]
        for k in range(len(out)):
            out[k]["cams"][v] = norm[k]
            out[k]["boxes"][v] = boxes[k]
    model.train(was_training)
    return out


def _display_image(tensor: Tensor) -> np.ndarray:
    """The network input ``(3, S, S)`` as an ``(S, S, 3)`` uint8 picture (ImageNet normalisation undone)."""
    from wsolx.data import denormalize

    return (denormalize(tensor.detach().float().cpu()).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
