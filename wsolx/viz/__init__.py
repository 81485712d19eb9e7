"""wsolx.viz: pictures of CAMs and curves, below the engine and the report.

* :mod:`wsolx.viz.overlay`: ``overlay(images, cams, boxes, gt_boxes) -> (B, 3, H, W) uint8``
  tensors (notebooks, TensorBoard); also exported as ``wsolx.report.overlay``.
* :mod:`wsolx.viz.figures`: matplotlib figures (object API, own Agg canvas; the global backend is
  never changed) of CAM grids, box accuracy / PxAP / training curves and metric tables.

The engine draws its TensorBoard images with these; the report builds its pages from them.
"""

from wsolx.viz.overlay import overlay

__all__ = ["overlay"]
