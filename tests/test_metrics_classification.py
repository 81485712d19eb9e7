"""ClassificationAccuracy: values, top-k, sharding and errors."""

import pytest
import torch

from wsolx.metrics import ClassificationAccuracy


def test_top1_and_topk():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]])
    labels = torch.tensor([1, 1, 0, 1])
    acc = ClassificationAccuracy(topk=(1, 2))
    acc.update(logits, labels)
    # top-1 predictions 1, 0, 2, 0 -> one hit; top-2 sets {1,0}, {0,1|2}, {2,1}, {0,1} -> 3 hits.
    r = acc.compute()
    assert r["Top-1 Cls"] == 25.0
    assert r["Top-2 Cls"] == 75.0


def test_predicted_labels_and_merge():
    a, b, whole = ClassificationAccuracy(), ClassificationAccuracy(), ClassificationAccuracy()
    preds, labels = torch.tensor([0, 1, 2, 2, 1]), torch.tensor([0, 1, 1, 2, 0])
    a.update(preds[:2], labels[:2])
    b.update(preds[2:], labels[2:])
    whole.update(preds, labels)
    assert a.merge(b).compute() == whole.compute() == {"Top-1 Cls": 60.0}
    a.all_reduce()  # no-op without torch.distributed
    assert a.compute() == {"Top-1 Cls": 60.0}
    a.reset()
    with pytest.raises(RuntimeError, match="no sample"):
        a.compute()


def test_errors():
    acc = ClassificationAccuracy()
    with pytest.raises(ValueError, match="empty batch"):
        acc.update(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, C\) logits"):
        acc.update(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer predicted labels"):
        acc.update(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="top-5 of 3 classes"):
        ClassificationAccuracy(topk=(1, 5)).update(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="positive"):
        ClassificationAccuracy(topk=(0,))
