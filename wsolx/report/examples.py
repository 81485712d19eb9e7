"""Overlay examples for a report: the best and the worst localised test images of a checkpoint.

:func:`rank_by_iou` runs the model over (up to ``limit``) images of a data set and scores every
image by the IoU of its predicted box (largest component at the variant's fixed threshold, the box
that GT-known Loc judges) with its closest ground-truth box. :func:`best_and_worst_examples`
keeps the ``k`` highest and ``k`` lowest and re-runs them through
:func:`wsolx.engine.evaluator.collect_examples` for the figures.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["rank_by_iou", "best_and_worst_examples", "pick_best_and_worst"]


@torch.no_grad()
def rank_by_iou(
    model: nn.Module,
    dataset: Any,
    eval_cfg: Any,
    variants: Sequence[str],
    *,
    limit: Optional[int] = 256,
    batch_size: int = 32,
    device: torch.device = torch.device("cpu"),
) -> Dict[str, np.ndarray]:
    """Per variant, the IoU of each scanned image's predicted box with its best-matching GT box.

    Args:
        model: wsolx model (evaluation mode is set here and restored).
        dataset: evaluation data set with ``gt_boxes(i)``; the first ``limit`` images are scanned
            (spread evenly over the set when it is larger).
        eval_cfg: the run's :class:`~wsolx.engine.config.EvalConfig` (thresholds, percentile).
        variants: variant names.
        limit: at most this many images (``None``: all).
        batch_size: images per forward pass.
        device: where the model runs.

    Returns:
        ``{"indices": (N,) int64, variant: (N,) float64 IoU, ...}``.
    """
    from wsolx.engine.evaluator import logits_and_cams, variant_settings
    from wsolx.metrics.iou import pairwise_box_iou
    from wsolx.ops import cam_boxes

    n = len(dataset)
    if limit is not None and n > limit:
        indices = np.unique(np.linspace(0, n - 1, int(limit)).round().astype(np.int64))
    else:
        indices = np.arange(n, dtype=np.int64)
    settings = {v: variant_settings(v, eval_cfg) for v in variants}
    clamps = sorted({nwc for nwc, _, _ in settings.values()})
    out: Dict[str, List[float]] = {v: [] for v in variants}
    was_training = model.training
    model.eval()
    for start in range(0, len(indices), batch_size):
        chunk = [int(i) for i in indices[start : start + batch_size]]
        items = [dataset[i] for i in chunk]
        images = torch.stack([it[0] for it in items]).to(device)
        labels = torch.as_tensor([it[1] for it in items], dtype=torch.long, device=device)
        size = (int(images.shape[-2]), int(images.shape[-1]))
        _, cams = logits_and_cams(model, images, labels, clamps)
        gts = [dataset.gt_boxes(i).float().reshape(-1, 4).cpu() for i in chunk]
        for v, (nwc, percentile, thr) in settings.items():
            boxes = cam_boxes(cams[nwc].float(), [thr], image_size=size, percentile=percentile)[:, 0].float().cpu()
            for k, g in enumerate(gts):
                iou = pairwise_box_iou(boxes[k : k + 1], g).max().item() if g.numel() else 0.0
                out[v].append(float(iou))
    model.train(was_training)
    res: Dict[str, np.ndarray] = {"indices": indices}
    res.update({v: np.asarray(x, dtype=np.float64) for v, x in out.items()})
    return res


def pick_best_and_worst(ious: np.ndarray, indices: np.ndarray, k: int) -> List[int]:
    """Data-set indices of the ``k`` highest-IoU images then the ``k`` lowest (ties: lower index first).

    When fewer than ``2 k`` images exist, every image appears once (best first).
    """
    order = np.lexsort((indices, -ious))  # descending IoU, then ascending index
    ranked = [int(indices[i]) for i in order]
    if len(ranked) <= 2 * k:
        return ranked
    return ranked[:k] + ranked[-k:]


def best_and_worst_examples(
    model: nn.Module,
    dataset: Any,
    eval_cfg: Any,
    variants: Sequence[str],
    *,
    k: int = 4,
    limit: Optional[int] = 256,
    batch_size: int = 32,
    device: torch.device = torch.device("cpu"),
) -> Dict[str, List[Dict[str, Any]]]:
    """Per variant, :func:`collect_examples` items of its ``k`` best and ``k`` worst localised images.

    Each item also carries ``iou`` (its predicted box's IoU) and ``rank`` (``"best"`` / ``"worst"``).
    A data set without boxes gets its first ``2 k`` images (``iou`` ``None``).
    """
    from wsolx.engine.evaluator import collect_examples

    if k < 1:
        raise ValueError(f"best_and_worst_examples: k must be >= 1, got {k}")
    out: Dict[str, List[Dict[str, Any]]] = {}
    if not getattr(dataset, "has_boxes", True):
        idx = list(range(min(len(dataset), 2 * k)))
        items = collect_examples(model, dataset, idx, eval_cfg, variants=list(variants), device=device)
        for it in items:
            it["iou"], it["rank"] = None, ""
        return {v: items for v in variants}
    ranks = rank_by_iou(model, dataset, eval_cfg, variants, limit=limit, batch_size=batch_size, device=device)
    for v in variants:
        chosen = pick_best_and_worst(ranks[v], ranks["indices"], k)
        by_index = dict(zip(ranks["indices"].tolist(), ranks[v].tolist()))
        items = collect_examples(model, dataset, chosen, eval_cfg, variants=[v], device=device)
        half = len(chosen) // 2 if len(chosen) == 2 * k else len(chosen)
        for j, it in enumerate(items):
            it["iou"] = by_index[it["index"]]
            it["rank"] = "best" if j < half else "worst"
        out[v] = items
    return out
