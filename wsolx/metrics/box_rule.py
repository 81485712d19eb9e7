"""Which box a CAM gives: the protocol's rule or the paper code's rule.

* ``"protocol"`` (Choe et al.): ``[x, y, min(x + w, W - 1), min(y + h, H - 1)]`` of the chosen
  contour; no contour gives ``[0, 0, 0, 0]``.
* ``"paper"`` (Bae et al.'s released code): ``[x, y, x + w, y + h]`` (the far corner is not
  clamped); no contour gives ``[0, 0, W, H]``.

The rule is an argument of the box op (``wsolx.ops.cam_boxes(..., box_rule=...)``).
:func:`cam_boxes_by_rule` is the one place the metrics call it with a rule, so a build whose op
predates the argument fails with a clear message instead of computing the wrong boxes.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor

__all__ = ["BOX_RULES", "supports_box_rule", "cam_boxes_by_rule"]

BOX_RULES = ("protocol", "paper")


def supports_box_rule() -> bool:
    """Whether :func:`wsolx.ops.cam_boxes` takes a ``box_rule`` argument."""
    from wsolx.ops import cam_boxes

    return "box_rule" in inspect.signature(cam_boxes).parameters


def cam_boxes_by_rule(cams: Tensor, thresholds: Any, *, box_rule: str = "protocol", **kwargs: Any) -> Any:
    """:func:`wsolx.ops.cam_boxes` with the given box rule (``kwargs``: ``image_size``,
    ``percentile``, ``multi_box``). ``"protocol"`` calls the op as it is.

    Raises:
        ValueError: unknown rule. NotImplementedError: the op has no ``box_rule`` argument.
    """
    from wsolx.ops import cam_boxes

    if box_rule not in BOX_RULES:
        raise ValueError(f"box_rule must be one of {BOX_RULES}, got {box_rule!r}")
    if box_rule == "protocol":
        return cam_boxes(cams, thresholds, **kwargs)
    if not supports_box_rule():
        raise NotImplementedError(
            "the paper's box rule needs wsolx.ops.cam_boxes(..., box_rule='paper'), which this build's op lacks"
        )
    return cam_boxes(cams, thresholds, box_rule=box_rule, **kwargs)
