"""Two-process torch.distributed (gloo) evaluation: the all-reduced counters of the shards give
exactly the metrics of a single process."""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.distributed as dist

from wsolx.metrics import BoxEvaluator, ClassificationAccuracy, MaskEvaluator

N, SIZE = 8, 24
THRESHOLDS = np.arange(0, 1, 0.05)


def _data():
    g = torch.Generator().manual_seed(0)
    cams = torch.rand(N, 6, 6, generator=g)
    xy0 = torch.rand(N, 2, generator=g) * 10
    gts = [torch.cat([xy0[i], xy0[i] + 8 + i]).view(1, 4) for i in range(N)]
    logits = torch.randn(N, 3, generator=g)
    labels = torch.arange(N) % 3
    masks = torch.zeros(N, SIZE, SIZE, dtype=torch.bool)
    masks[:, 6:18, 4:16] = True
    ignore = torch.zeros_like(masks)
    ignore[:, 0:4, :] = True
    return cams, gts, logits, labels, masks, ignore


def _evaluate(indices):
    cams, gts, logits, labels, masks, ignore = _data()
    box = BoxEvaluator(thresholds=THRESHOLDS, image_size=SIZE)
    mask = MaskEvaluator(image_size=SIZE)
    cls = ClassificationAccuracy()
    idx = torch.as_tensor(indices)
    if len(indices):
        box.update(cams[idx], [gts[i] for i in indices], gt_labels=labels[idx], pred_labels=logits[idx].argmax(1))
        mask.update(cams[idx], masks[idx], ignore[idx])
        cls.update(logits[idx], labels[idx])
    return box, mask, cls


def _worker(rank: int, world: int, init_file: str, queue) -> None:
    try:
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
        box, mask, cls = _evaluate(list(range(rank, N, world)))
        for m in (box, mask, cls):
            m.all_reduce()
        queue.put((rank, box.compute(), mask.compute()["PxAP"], cls.compute()))
        dist.destroy_process_group()
    except BaseException as exc:  # report instead of hanging the parent
        queue.put((rank, repr(exc), None, None))


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed with gloo")
def test_gloo_all_reduce_equals_single_process():
    box, mask, cls = _evaluate(list(range(N)))
    expect = (box.compute(), mask.compute()["PxAP"], cls.compute())

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        procs = [ctx.Process(target=_worker, args=(r, 2, init_file, queue)) for r in range(2)]
        for p in procs:
            p.start()
        try:
            results = [queue.get(timeout=180) for _ in procs]
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
    for rank, b, px, c in results:
        assert isinstance(b, dict), f"rank {rank} failed: {b}"
        assert (b, px, c) == expect
