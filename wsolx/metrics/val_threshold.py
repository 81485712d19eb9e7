"""Test accuracy at the CAM threshold chosen on the validation split ("honest" thresholds).

``MaxBoxAcc`` / ``MaxBoxAccV2`` pick the best CAM threshold on the split they report, i.e. on test
itself: an oracle. Choe et al. argue that the operating threshold, like every hyper-parameter,
should come from the fully supervised validation split. This module takes, for each IoU threshold,
the threshold index ``k* = argmax_k BoxAcc_val(k)`` of the validation box-accuracy curve (ties: the
first, i.e. the lowest threshold, as ``np.argmax`` and the protocol pick) and reads the test curve
at ``k*``:

* ``val_threshold`` and ``BoxAcc@val_thr``: largest box, IoU 0.5 (beside ``MaxBoxAcc``);
* ``val_threshold@<delta>`` and ``BoxAccV2@<delta>@val_thr``: every contour's box, per IoU
  threshold, and ``BoxAccV2@val_thr`` their mean (beside ``MaxBoxAccV2``).

Both splits must have been evaluated with the same threshold list.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence

import numpy as np

__all__ = ["val_threshold_metrics", "add_val_threshold_metrics", "VAL_THRESHOLD_KEYS"]

#: The summary keys this module adds to a variant's metrics (besides the per-IoU ones).
VAL_THRESHOLD_KEYS = ("BoxAcc@val_thr", "BoxAccV2@val_thr", "val_threshold")


def _curve_for(curves: Mapping[Any, Sequence[float]], delta: float, what: str) -> np.ndarray:
    for key, curve in curves.items():  # keys are floats in memory, strings after a JSON round trip
        if float(key) == float(delta):
            return np.asarray(curve, dtype=np.float64)
    raise ValueError(f"{what}: no box-accuracy curve for IoU threshold {delta:g}")


def val_threshold_metrics(test: Mapping[str, Any], val: Mapping[str, Any]) -> Dict[str, Any]:
    """The test accuracies at the validation-chosen thresholds of one variant.

    Args:
        test / val: one variant's metrics from :meth:`wsolx.metrics.BoxEvaluator.compute` (keys
            ``thresholds``, ``box_acc_curve_v1``, ``box_acc_curve``) on the test and validation splits.

    Returns:
        ``{"val_threshold", "BoxAcc@val_thr", "val_threshold@<d>", "BoxAccV2@<d>@val_thr", ...,
        "BoxAccV2@val_thr"}`` (percent), the IoU thresholds ``d`` being those of ``test``.

    Raises:
        ValueError: a curve is missing or the splits used different threshold lists.
    """
    thresholds = np.asarray(test["thresholds"], dtype=np.float64)
    val_thr = np.asarray(val["thresholds"], dtype=np.float64)
    if thresholds.shape != val_thr.shape or not np.array_equal(thresholds, val_thr):
        raise ValueError(
            f"validation and test were evaluated with different CAM thresholds "
            f"({val_thr.size} vs {thresholds.size}); use the same eval.cam_curve_interval"
        )
    out: Dict[str, Any] = {}
    k = int(np.argmax(np.asarray(val["box_acc_curve_v1"], dtype=np.float64)))
    out["val_threshold"] = float(thresholds[k])
    out["BoxAcc@val_thr"] = float(np.asarray(test["box_acc_curve_v1"], dtype=np.float64)[k])
    accs = []
    for key in test["box_acc_curve"]:
        delta = float(key)
        k = int(np.argmax(_curve_for(val["box_acc_curve"], delta, "validation")))
        acc = float(_curve_for(test["box_acc_curve"], delta, "test")[k])
        out[f"val_threshold@{delta:g}"] = float(thresholds[k])
        out[f"BoxAccV2@{delta:g}@val_thr"] = acc
        accs.append(acc)
    out["BoxAccV2@val_thr"] = float(np.average(accs))
    return out


def add_val_threshold_metrics(test: Dict[str, Any], val: Mapping[str, Any]) -> Dict[str, Any]:
    """Add :func:`val_threshold_metrics` to every variant of an evaluation result that has box
    curves on both splits (``test["variants"][v]`` is updated in place); returns ``test``."""
    for name, tm in test.get("variants", {}).items():
        vm = val.get("variants", {}).get(name)
        if vm is None or "box_acc_curve" not in tm or "box_acc_curve" not in vm:
            continue
        tm.update(val_threshold_metrics(tm, vm))
    return test
