"""Training loop: SGD (Nesterov) with a step schedule, AMP, channels_last, DDP, checkpoints and resume.

Per epoch the trainer logs the training loss and accuracy, validates on ``data.val_split`` (every
``eval_every`` epochs and after the last one), keeps ``last.pt`` and the best-by-validation
``best.pt`` (never chosen on the test split), and finally evaluates ``test_checkpoint`` (``last``,
the protocol's default, or ``best``) on ``data.test_split``, adding the test accuracy at the CAM
thresholds chosen on the validation split (:mod:`wsolx.metrics.val_threshold`). Everything is
written under ``out_dir``::

    config.json   the resolved config          log.jsonl   one JSON record per event
    last.pt       state after the last epoch   best.pt     best validation score
    metrics.json  best epoch, its validation metrics, the tested checkpoint and the test metrics

Resume (``resume="auto"`` or a path) restores model, optimiser, scheduler, AMP scaler, epoch,
best score and the best epoch's validation metrics; since every epoch reseeds all generators from
``(seed, epoch, rank)``, a resumed run reproduces the uninterrupted one bit for bit (same device
and thread count). Only the settings in :data:`RESUME_MAY_CHANGE` may differ from the checkpoint's;
any other difference is a :class:`ConfigError` naming the setting, so ``config.json`` is always
what ran.

Before the first step every split the run will use (train, val, test and the mask data set's
splits) is loaded and checked, so a bad label or a missing split is reported at once. SIGTERM or
Ctrl-C stop the run with :class:`~wsolx.errors.RunInterrupted` (one line on the command line);
``last.pt`` then holds the last completed epoch and ``--resume`` continues from it.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from wsolx.data import collate_with_index
from wsolx.engine.builders import build_dataset, build_model, check_input_sizes, resolve_defaults
from wsolx.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    non_finite_tensors,
    remove_stale_temporaries,
    save_checkpoint,
    write_file_atomic,
)
from wsolx.engine.config import Config, ConfigError, yaml_available
from wsolx.engine.distributed import DistInfo, all_reduce_sum, barrier, init_distributed
from wsolx.engine.epoch_logs import EpochLogs
from wsolx.engine.eval_runs import evaluate_split
from wsolx.engine.evaluator import autocast
from wsolx.engine.logging import RunLogger, jsonable
from wsolx.engine.optim import build_optimizer, build_scheduler
from wsolx.engine.seed import epoch_seed, seed_everything
from wsolx.errors import RunInterrupted, TrainingDiverged
from wsolx.metrics.val_threshold import add_val_threshold_metrics

__all__ = ["Trainer", "TrainResult", "train", "LossModule", "strip_curves", "RESUME_MAY_CHANGE"]

#: Config fields a resumed run may change; any other difference from the checkpoint's config is an
#: error (the optimiser, schedule, model, data and selection settings shape the run being continued).
RESUME_MAY_CHANGE = frozenset(
    {
        "optim.epochs",
        "data.data_root",
        "data.metadata_root",
        "data.num_workers",
        "data.eval_batch_size",
        "model.weights",
        "out_dir",
        "device",
        "eval_every",
        "resume",
        "log_every",
        "progress",
        "final_test",
        "find_unused_parameters",
        "test_checkpoint",
        "loggers",
        "log_images_every",
    }
)


class LossModule(nn.Module):
    """``forward(images, labels) -> (loss, logits)`` through ``model.training_loss``.

    DDP only synchronises gradients of what runs inside ``forward``, so the method-specific
    objective is wrapped in a module and that module is what DDP wraps.
    """

    _wsolx_wrapper = True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor, labels: Tensor):
        return self.model.training_loss(images, labels)


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns (on every rank; files are written by rank 0)."""

    out_dir: Path
    config: Config
    best: Dict[str, Any]
    history: List[Dict[str, Any]] = field(default_factory=list)
    val: Optional[Dict[str, Any]] = None
    test: Optional[Dict[str, Any]] = None
    model: Optional[nn.Module] = None

    @property
    def best_checkpoint(self) -> Path:
        return self.out_dir / "best.pt"

    @property
    def last_checkpoint(self) -> Path:
        return self.out_dir / "last.pt"


def strip_curves(metrics: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """Metrics without the per-threshold curves (for compact log records)."""
    if metrics is None:
        return None
    out = {k: v for k, v in metrics.items() if k != "variants"}
    if "variants" in metrics:
        out["variants"] = {
            v: {k: x for k, x in m.items() if not k.endswith("curve") and not isinstance(x, (list, tuple))}
            for v, m in metrics["variants"].items()
        }
    return out


class Trainer:
    """Sets up a run from a :class:`Config` and trains it.

    Args:
        cfg: the run config (``None`` numbers are filled from the model defaults).
        dist_info: process-group information; default: :func:`init_distributed` from torchrun's
            environment variables.
    """

    def __init__(self, cfg: Config, dist_info: Optional[DistInfo] = None) -> None:
        self.cfg = resolve_defaults(cfg)  # the one validation of the run's settings
        self.dist = dist_info or init_distributed(self.cfg.device)
        self.cfg.check_paths()
        self.device = self.dist.device
        self.out_dir = Path(self.cfg.out_dir)
        self.is_main = self.dist.is_main
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(self.out_dir)  # left by a save that was killed
        self.logger = RunLogger(self.out_dir / "log.jsonl", enabled=self.is_main)
        if self.cfg.amp and self.device.type == "cpu":
            self.logger.info("wsolx: AMP on CPU uses bfloat16 autocast")

        seed_everything(self.cfg.seed)
        c = self.cfg
        self.train_set = build_dataset(c, c.data.train_split, train=True)
        self.val_set = build_dataset(c, c.data.val_split, train=False) if c.data.val_split else None
        self.test_set = None
        if c.final_test and c.data.test_split:
            try:
                self.test_set = build_dataset(c, c.data.test_split, train=False)
            except ConfigError as exc:
                raise ConfigError(f"{exc} (the test split is evaluated after training; --no-test skips it)") from None
        self._check_eval_splits()
        self.model = build_model(c, self.train_set.num_classes).to(self.device)
        if c.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        check_input_sizes(self.model, c, self.device)
        self.optimizer = build_optimizer(self.model, c.optim)
        self.scheduler = build_scheduler(self.optimizer, c.optim)
        self.scaler = torch.amp.GradScaler("cuda", enabled=c.amp and self.device.type == "cuda")
        self.start_epoch = 0
        self.best: Dict[str, Any] = {}
        self.best_val: Optional[Dict[str, Any]] = None
        self._resume()
        # Per-epoch summary.csv / TensorBoard (``cfg.loggers``), main process only.
        self.epoch_logs: Optional[EpochLogs] = None
        if self.is_main and c.loggers:
            self.epoch_logs = EpochLogs(
                c.loggers, self.out_dir, self.start_epoch, c.log_images_every, int(c.optim.epochs or 0)
            )
        self._stop = _SignalStop()

        self.step_module: nn.Module = LossModule(self.model)
        if self.dist.world_size > 1:
            find_unused = c.find_unused_parameters
            if find_unused is None:
                find_unused = c.model.method != "cam"
            self.step_module = nn.parallel.DistributedDataParallel(
                self.step_module,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=find_unused,
            )
        self.sampler = DistributedSampler(
            self.train_set,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=True,
            seed=c.seed,
            drop_last=False,
        )
        per_rank = len(self.sampler)
        self.loader = DataLoader(
            self.train_set,
            batch_size=c.data.batch_size,
            sampler=self.sampler,
            num_workers=c.data.num_workers,
            collate_fn=collate_with_index,
            pin_memory=self.device.type == "cuda",
            # Drop the incomplete last batch (a batch of one image breaks BatchNorm) unless it is the only one.
            drop_last=per_rank > c.data.batch_size,
        )
        if len(self.loader) == 0:
            raise ConfigError(f"the training split {c.data.train_split!r} gives no batch on rank {self.dist.rank}")

    # ------------------------------------------------------------------ checks
    def _check_eval_splits(self) -> None:
        """Every split evaluated later (val, test, their mask data set) exists, is readable and
        has no label outside the training classes: checked before the first step."""
        c = self.cfg
        n = self.train_set.num_classes
        sets = [ds for ds in (self.val_set, self.test_set) if ds is not None]
        if c.data.mask_dataset:
            for split, ds in ((c.data.val_split, self.val_set), (c.data.test_split, self.test_set)):
                if ds is not None and not ds.has_masks:
                    sets.append(build_dataset(c, split, train=False, dataset=c.data.mask_dataset))
        for ds in sets:
            bad = [(i, lab) for i, lab in zip(ds.image_ids, ds.labels) if not 0 <= lab < n]
            if bad:
                image_id, lab = bad[0]
                raise ConfigError(
                    f"{ds.metadata.directory / 'class_labels.txt'}: label {lab} of {image_id!r} is outside the "
                    f"{n} classes of the training split ({self.train_set.metadata.directory}); "
                    f"{len(bad)} image(s) of split {ds.split!r} are affected"
                )

    def _check_resume_config(self, stored: Any, path: str) -> None:
        """Raise :class:`ConfigError` naming every setting that differs from the checkpoint's and
        may not change on resume (see :data:`RESUME_MAY_CHANGE`)."""
        if not isinstance(stored, dict):
            raise CheckpointError(f"checkpoint {path!r} holds no config to resume with")
        old, new = _flatten(_with_method_defaults(stored)), _flatten(self.cfg.to_dict())
        changed = [k for k in sorted(set(old) & set(new)) if old[k] != new[k] and k not in RESUME_MAY_CHANGE]
        if changed:
            diffs = ", ".join(f"{k} {old[k]!r} -> {new[k]!r}" for k in changed[:6])
            more = f" (+{len(changed) - 6} more)" if len(changed) > 6 else ""
            raise ConfigError(
                f"cannot resume from {path!r} with changed settings: {diffs}{more}; these cannot change on "
                f"resume (pass the original values, e.g. --config {Path(path).parent / 'config.json'}, or "
                "start a new run with another --out)"
            )

    # ------------------------------------------------------------------ resume
    def _resume(self) -> None:
        path = self.cfg.resume
        if not path:
            return
        if path == "auto":
            p = self.out_dir / "last.pt"
            if not p.is_file():
                self.logger.info(f"wsolx: no checkpoint at {p}; starting from scratch")
                return
            path = str(p)
        ckpt = load_checkpoint(path, map_location=self.device)
        self._check_resume_config(ckpt.get("config"), str(path))
        bad = non_finite_tensors(ckpt["model"])
        if bad:
            raise CheckpointError(f"checkpoint {path!r} holds NaN/inf weights in {len(bad)} tensor(s), e.g. {bad[0]!r}")
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {path!r} does not fit model {self.cfg.model.arch!r}: {exc}") from None
        if ckpt.get("optimizer") is not None:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler") is not None and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.start_epoch = int(ckpt["epoch"])
        self.best = dict(ckpt.get("best") or {})
        self.best_val = ckpt.get("best_val")
        self.logger.info(f"wsolx: resumed from {path} after epoch {self.start_epoch}")
        self.logger.log("resume", checkpoint=str(path), epoch=self.start_epoch)

    # ------------------------------------------------------------------ one epoch
    def train_one_epoch(self, epoch: int) -> Dict[str, float]:
        """One pass over this rank's shard; returns the loss / accuracy averaged over all ranks."""
        c = self.cfg
        seed_everything(epoch_seed(c.seed, epoch, self.dist.rank))
        self.sampler.set_epoch(epoch)
        self.step_module.train()
        totals = torch.zeros(3, dtype=torch.float64)  # loss * n, correct, n
        t0 = time.time()
        bar = tqdm(
            self.loader,
            desc=f"epoch {epoch + 1}/{c.optim.epochs}",
            disable=not (c.progress and self.is_main),
            leave=False,
            dynamic_ncols=True,
        )
        for step, (images, labels, _) in enumerate(bar):
            images = images.to(self.device, non_blocking=True)
            if c.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = labels.to(self.device, non_blocking=True)
            with autocast(self.device, c.amp):
                loss, logits = self.step_module(images, labels)
            if not torch.isfinite(loss.detach()):
                raise TrainingDiverged(
                    f"training diverged: non-finite loss {loss.item()} at epoch {epoch + 1}, step {step} "
                    f"with optim.lr {c.optim.lr:g}; lower it (--lr)"
                )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            n = labels.size(0)
            totals += torch.tensor(
                [loss.detach().float().item() * n, (logits.detach().argmax(1) == labels).sum().item(), n],
                dtype=torch.float64,
            )
            if step % c.log_every == 0:
                bar.set_postfix(loss=f"{totals[0] / totals[2]:.3f}", acc=f"{100 * totals[1] / totals[2]:.1f}")
        bar.close()
        all_reduce_sum(totals)
        return {
            "train_loss": float(totals[0] / totals[2]),
            "train_acc": float(100.0 * totals[1] / totals[2]),
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "epoch_time": round(time.time() - t0, 2),
        }

    def evaluate_split(self, split: str, desc: str, dataset: Optional[Any] = None) -> Dict[str, Any]:
        """:func:`wsolx.engine.eval_runs.evaluate_split` of the current model with this run's settings."""
        return evaluate_split(self.model, self.cfg, split, device=self.device, desc=desc, dataset=dataset)

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's buffers (BatchNorm running statistics) before an evaluation.

        DDP broadcasts buffers at the start of each forward, so after the last training step each
        rank holds its own statistics; rank 0's are the ones saved in the checkpoints, and every
        rank must evaluate its shard with them for the numbers to equal a one-process evaluation
        of that checkpoint.
        """
        if self.dist.world_size <= 1:
            return
        for buf in self.model.buffers():
            torch.distributed.broadcast(buf, src=0)

    def _score(self, metrics: Dict[str, Any]) -> float:
        e = self.cfg.eval
        vm = metrics["variants"][e.select_variant]
        if e.select_metric in vm:
            return float(vm[e.select_metric])
        if e.select_metric in metrics:
            return float(metrics[e.select_metric])
        names = sorted(k for k, v in vm.items() if isinstance(v, (int, float))) + ["Top-1 Cls"]
        raise ConfigError(
            f"eval.select_metric {e.select_metric!r} is not computed on the validation split; choose from {names}"
        )

    def _save(self, name: str, epoch: int) -> None:
        if self.is_main:
            with self._stop.deferred():  # a signal during the save acts after it
                self._save_now(name, epoch)

    def _save_now(self, name: str, epoch: int) -> None:
        if self.is_main:
            save_checkpoint(
                self.out_dir / name,
                model=self.model,
                epoch=epoch,
                config=self.cfg.to_dict(),
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                scaler=self.scaler,
                best=self.best,
                extra={"best_val": jsonable(self.best_val)},
            )

    # ------------------------------------------------------------------ the run
    def fit(self) -> TrainResult:
        """Train from ``start_epoch`` to ``optim.epochs``, select by validation, test the best.

        Raises:
            RunInterrupted: on SIGTERM / SIGINT (``last.pt`` holds the last completed epoch).
        """
        with self._stop.installed(self._interrupted):
            return self._fit()

    def _interrupted(self, signum: int) -> RunInterrupted:
        name = signal.Signals(signum).name
        last = self.out_dir / "last.pt"
        if last.is_file():
            hint = f"{last} holds the last completed epoch; continue with the same command and --resume"
        else:
            hint = "no epoch was completed, so nothing was saved; run the command again"
        return RunInterrupted(f"stopped by {name}: {hint}", signum)

    def _fit(self) -> TrainResult:
        c = self.cfg
        if self.is_main:
            with self._stop.deferred():
                c.save(self.out_dir / "config.json")
                if yaml_available():
                    c.save(self.out_dir / "config.yaml")
            self.logger.log(
                "start",
                config=c.to_dict(),
                world_size=self.dist.world_size,
                device=str(self.device),
                train_images=len(self.train_set),
                val_images=len(self.val_set) if self.val_set is not None else 0,
            )
        history: List[Dict[str, Any]] = []
        epochs = int(c.optim.epochs)
        best_val: Optional[Dict[str, Any]] = self.best_val
        last_val: Optional[Dict[str, Any]] = None
        for epoch in range(self.start_epoch, epochs):
            rec: Dict[str, Any] = {"epoch": epoch + 1, **self.train_one_epoch(epoch)}
            self.scheduler.step()
            last = epoch + 1 == epochs
            val = None
            if self.val_set is not None and (last or (c.eval_every and (epoch + 1) % c.eval_every == 0)):
                self._sync_buffers()
                val = self.evaluate_split(c.data.val_split, f"val {epoch + 1}", self.val_set)
                if last:
                    last_val = val
                score = self._score(val)
                rec["val"] = strip_curves(val)
                rec["val_score"] = score
                if not self.best or score > self.best["score"] or math.isnan(self.best["score"]):
                    self.best = {
                        "epoch": epoch + 1,
                        "score": score,
                        "metric": c.eval.select_metric,
                        "variant": c.eval.select_variant,
                    }
                    best_val = self.best_val = val
                    self._save("best.pt", epoch + 1)
            elif self.val_set is None and last:
                self.best = {"epoch": epoch + 1, "score": float("nan"), "metric": "last epoch", "variant": ""}
                self._save("best.pt", epoch + 1)
            self._save("last.pt", epoch + 1)
            self.logger.log("epoch", **rec)
            self.logger.info(_epoch_line(rec, c))
            if self.epoch_logs is not None:
                self.epoch_logs.log(rec, val, self.overlay_grid if val is not None else None)
            history.append(rec)
        if self.epoch_logs is not None:
            self.epoch_logs.close()
        barrier()
        result = TrainResult(self.out_dir, c, dict(self.best), history, val=best_val, model=self.model)
        if c.final_test and c.data.test_split:
            tested_val = last_val if c.test_checkpoint == "last" else best_val
            result.test, tested = self.test_checkpoint(c.test_checkpoint, tested_val)
            result.val = best_val
            if self.is_main:
                write_metrics(
                    self.out_dir / "metrics.json", best=self.best, val=best_val, tested=tested, test=result.test
                )
        return result

    def overlay_grid(self, n: int = 8) -> Optional[Tensor]:
        """CAM overlays ``(n, 3, S, S)`` uint8 of the first ``n`` validation images (selection variant)."""
        from wsolx.engine.evaluator import collect_examples
        from wsolx.viz.overlay import overlay

        if self.val_set is None or len(self.val_set) == 0:
            return None
        v = self.cfg.eval.select_variant
        idx = list(range(min(n, len(self.val_set))))
        ex = collect_examples(self.model, self.val_set, idx, self.cfg.eval, variants=[v], device=self.device)
        return overlay(
            torch.stack([torch.from_numpy(e["image"]) for e in ex]),
            torch.stack([torch.from_numpy(e["cams"][v]) for e in ex]),
            [e["boxes"][v].reshape(-1, 4) for e in ex],
            [e["gt_boxes"] for e in ex],
            normalize=False,
            width=max(1, ex[0]["image"].shape[0] // 80),
        )

    def test_checkpoint(
        self, which: str, val: Optional[Dict[str, Any]] = None
    ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Load ``<which>.pt`` (``last`` or ``best``; the current weights when the file is missing),
        evaluate the test split and add the test accuracy at the validation-chosen thresholds.

        Args:
            which: ``"last"`` or ``"best"``.
            val: the validation metrics of that checkpoint, when already computed; otherwise the
                validation split is evaluated again with the loaded weights.

        Returns:
            ``(test metrics, {"checkpoint", "epoch", "val"})`` where ``val`` is the validation
            result (curves stripped) whose thresholds were applied, or ``None`` without a split.
        """
        path = self.out_dir / f"{which}.pt"
        barrier()
        epoch = None
        if path.is_file():
            ckpt = load_checkpoint(path, map_location=self.device)
            self.model.load_state_dict(ckpt["model"])
            epoch = int(ckpt.get("epoch", 0))
        if val is None and self.val_set is not None:
            val = self.evaluate_split(self.cfg.data.val_split, f"val ({which})", self.val_set)
        test = self.evaluate_split(self.cfg.data.test_split, "test", self.test_set)
        if val is not None:
            add_val_threshold_metrics(test, val)
        tested = {"checkpoint": which, "epoch": epoch, "val": strip_curves(val)}
        self.logger.log("test", checkpoint=str(path), best=self.best, tested=tested, metrics=strip_curves(test))
        return test, tested

    def test_best(self) -> Dict[str, Any]:
        """:meth:`test_checkpoint` of ``best.pt``; returns the test metrics."""
        return self.test_checkpoint("best")[0]


def write_metrics(path: Path, **sections: Any) -> None:
    """Write ``sections`` as indented JSON (curves included)."""
    write_file_atomic(path, (json.dumps(jsonable(sections), indent=2) + "\n").encode())


def _with_method_defaults(stored: Dict[str, Any]) -> Dict[str, Any]:
    """``stored`` with the method hyper-parameters it leaves out filled from ``DEFAULTS["methods"]``,
    as :func:`resolve_defaults` fills a new run's (a checkpoint written before they were recorded
    keeps resuming)."""
    from wsolx.models.defaults import default_method_kwargs

    model = stored.get("model")
    if (
        not isinstance(model, dict)
        or not isinstance(model.get("method"), str)
        or not isinstance(model.get("method_kwargs"), dict)
    ):
        return stored
    defaults = json.loads(json.dumps(default_method_kwargs(model["method"])))
    return {**stored, "model": {**model, "method_kwargs": {**defaults, **model["method_kwargs"]}}}


def _flatten(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (``model.method_kwargs`` stays one value)."""
    out: Dict[str, Any] = {}
    for k, v in d.items():
        key = prefix + k
        if isinstance(v, dict) and key != "model.method_kwargs":
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


class _SignalStop:
    """Turns SIGTERM / SIGINT into an exception, except inside :meth:`deferred` sections (a
    checkpoint save), where the signal takes effect right after the section."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._make: Any = None
        self._critical = 0
        self._pending: Optional[int] = None

    def _handle(self, signum: int, _frame: Any) -> None:
        if self._critical:
            self._pending = signum
            return
        raise self._make(signum)

    @contextmanager
    def installed(self, make_error: Any) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return
        self._make = make_error
        old = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            self._make = None

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if not self._critical and self._pending is not None and self._make is not None:
            signum, self._pending = self._pending, None
            raise self._make(signum)


def _epoch_line(rec: Dict[str, Any], cfg: Config) -> str:
    s = f"epoch {rec['epoch']:3d}  loss {rec['train_loss']:.4f}  acc {rec['train_acc']:5.1f}  lr {rec['lr']:.2e}  {rec['epoch_time']:.1f}s"
    if "val" in rec:
        v = rec["val"]
        s += f"  | val Top-1 Cls {v.get('Top-1 Cls', float('nan')):.1f}"
        vm = v["variants"].get(cfg.eval.select_variant, {})
        for k in ("MaxBoxAcc", "MaxBoxAccV2", "GT-known Loc", "PxAP"):
            if k in vm:
                s += f"  {k} {vm[k]:.1f}"
    return s


def train(cfg: Config, dist_info: Optional[DistInfo] = None) -> TrainResult:
    """Build a :class:`Trainer` and run :meth:`Trainer.fit`."""
    return Trainer(cfg, dist_info).fit()
