"""wsolx.engine: configuration, training and evaluation loops, checkpoints, DDP, logs.

Public API::

    Config / DataConfig / ModelConfig / OptimConfig / EvalConfig, load_config(path, overrides)
    Trainer(cfg).fit() -> TrainResult          train(cfg)        (DDP under torchrun)
    evaluate(model, dataset, eval_cfg, ...)    evaluate_checkpoint(path, split=..., ...)
    save_checkpoint / load_checkpoint          init_distributed / ShardSampler
"""

from wsolx.engine.builders import build_dataset, build_model, resolve_defaults
from wsolx.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from wsolx.engine.config import (
    SELECT_METRICS,
    VARIANTS,
    Config,
    ConfigError,
    DataConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    load_config,
)
from wsolx.engine.distributed import DistInfo, ShardSampler, cleanup_distributed, init_distributed
from wsolx.engine.eval_runs import evaluate_checkpoint, evaluate_split
from wsolx.engine.evaluator import collect_examples, evaluate, variant_settings
from wsolx.engine.logging import RunLogger, format_table, read_jsonl
from wsolx.engine.optim import build_optimizer, build_scheduler
from wsolx.engine.trainer import Trainer, TrainResult, train

__all__ = [
    "Config",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "EvalConfig",
    "ConfigError",
    "VARIANTS",
    "SELECT_METRICS",
    "load_config",
    "resolve_defaults",
    "build_dataset",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "Trainer",
    "TrainResult",
    "train",
    "evaluate",
    "evaluate_split",
    "evaluate_checkpoint",
    "collect_examples",
    "variant_settings",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
    "DistInfo",
    "init_distributed",
    "cleanup_distributed",
    "ShardSampler",
    "RunLogger",
    "read_jsonl",
    "format_table",
]
