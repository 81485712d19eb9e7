"""DDP on CPU with gloo: ``torchrun --nproc_per_node=2 -m wsolx train`` on a tiny synthetic set.

The two-process run trains with DistributedDataParallel and evaluates the test split sharded over
the ranks (exact shards, counters all-reduced); its metrics must equal a one-process evaluation
of the same checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tiny_runs import train_argv

from wsolx.data import synthetic
from wsolx.engine import ShardSampler, evaluate_checkpoint, read_jsonl


def test_shard_sampler_is_an_exact_partition():
    for n in (0, 1, 5, 9):
        for world in (1, 2, 3):
            shards = [list(ShardSampler(n, rank=r, world_size=world)) for r in range(world)]
            assert sorted(i for s in shards for i in s) == list(range(n))
            assert [len(ShardSampler(n, rank=r, world_size=world)) for r in range(world)] == [len(s) for s in shards]
    with pytest.raises(ValueError, match="rank 2"):
        ShardSampler(4, rank=2, world_size=2)


def _numbers(metrics: dict) -> dict:
    out = {"Top-1 Cls": metrics["Top-1 Cls"], "num_images": metrics["num_images"]}
    for v, m in metrics["variants"].items():
        for k, x in m.items():
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                out[f"{v}/{k}"] = x
    return out


def test_torchrun_two_processes_match_one(tmp_path):
    root = tmp_path / "synth"
    # 9 test images: shards of 5 and 4 images.
    synthetic.generate(
        root, num_classes=3, train_per_class=6, val_per_class=1, test_per_class=3, image_size=32, seed=2, progress=False
    )
    out = tmp_path / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "wsolx"]
    cmd = torchrun + train_argv(root, out, "--crop-size", "32", "--set", "eval.variants=base,nwc+pas")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    start = [r for r in read_jsonl(out / "log.jsonl") if r["event"] == "start"][0]
    assert start["world_size"] == 2
    ddp = json.loads((out / "metrics.json").read_text())["test"]
    assert ddp["num_images"] == 9

    single = evaluate_checkpoint(out / "last.pt", split="test", overrides=["progress=false"])  # the tested one
    a, b = _numbers(ddp), _numbers(single)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-9), k
