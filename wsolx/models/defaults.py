"""Training defaults of the paper and the protocol, in one place.

Sources, as tagged in every ``"source"`` field:

* ``"protocol"``: Choe et al., CVPR 2020 ("Evaluating WSOL Methods Right"), its released training
  code (``config.py`` / ``main.py``) and the CAM hyper-parameters of its released example runs:
  SGD with Nesterov momentum 0.9, the classifier / new layers at 10x the learning rate, lr decayed
  x0.1 every ``lr_decay_every`` epochs, batch size 32, 256 resize / 224 crop; the per-backbone
  learning rates are the ones selected for *CAM* under the protocol (the protocol searched them
  per method; only CAM's are reproduced here: other methods start from the same values).
* ``"paper"``: Bae, Noh, Kim, ECCV 2020 ("Rethinking CAM for WSOL"), the authors' released
  configuration (VGG16 + TAP on CUB): lr 0.003 on every layer with the pretrained layers'
  gradients scaled by 0.1 before the step (``pretrained_grad_scale`` 0.1, ``new_lr_ratio`` 1;
  weight decay is added after the scaling, so it acts at lr 0.003 there too), weight decay 5e-4,
  200 epochs with x0.1 steps at epochs 60/120/180, batch size 40, ``theta_tap`` 0.1; evaluation
  at CAM threshold 0.2 (max normalisation) or 0.35 with PaS (90th percentile).
* ``"wsolx"``: choices of this library where neither source gives a value (MobileNetV1 has no
  published learning rate: ``lr`` is ``None`` and must be set; ``vgg_tiny`` is a demo model).

Method hyper-parameters are the protocol's ``config.py`` defaults (HaS grid is in *pixels*).
"""

from __future__ import annotations

import copy
from typing import Any, Dict

from wsolx import protocol

__all__ = ["DEFAULTS", "get_defaults", "default_tap_theta", "default_method_kwargs"]

DEFAULTS: Dict[str, Any] = {
    "optimizer": {
        "name": "sgd",
        "momentum": 0.9,
        "nesterov": True,
        "new_lr_ratio": 10.0,  # model.param_groups(lr, new_lr_ratio)
        "pretrained_grad_scale": 1.0,  # pretrained layers' gradients x this before the step
        "source": "protocol (lr_classifier_ratio=10); the paper profile scales gradients instead",
    },
    # Model settings shared by every backbone (a backbone entry may override them).
    "model": {
        "tap_theta": protocol.TAP_THETA,
        "source": "paper (theta_tap of the released VGG16 config; no other backbone has a published value)",
    },
    # Per-dataset schedules of the protocol.
    "datasets": {
        "CUB": {
            "num_classes": 200,
            "epochs": 50,
            "lr_decay_every": 15,
            "lr_decay_gamma": 0.1,
            "batch_size": 32,
            "resize_size": 256,
            "crop_size": 224,
            "source": "protocol",
        },
        "ILSVRC": {
            "num_classes": 1000,
            "epochs": 10,
            "lr_decay_every": 3,
            "lr_decay_gamma": 0.1,
            "batch_size": 32,
            "resize_size": 256,
            "crop_size": 224,
            "source": "protocol",
        },
        "OpenImages": {
            "num_classes": 100,
            "epochs": 10,
            "lr_decay_every": 3,
            "lr_decay_gamma": 0.1,
            "batch_size": 32,
            "resize_size": 256,
            "crop_size": 224,
            "source": "protocol",
        },
    },
    # Per-backbone settings (CAM). ``lr`` is the base (pretrained-layer) rate per dataset.
    "backbones": {
        "vgg16": {
            "large_feature_map": False,
            "weight_decay": 5e-4,
            "lr": {"CUB": 1.268269e-05, "ILSVRC": 1.654502e-05, "OpenImages": 2.27913316e-03},
            "source": "protocol (lr, weight decay, feature map)",
        },
        "resnet50": {
            "large_feature_map": True,  # the protocol's ResNet50 runs use the 28x28 variant
            "weight_decay": 1e-4,
            "lr": {"CUB": 1.7e-04, "ILSVRC": 3.108411e-05},
            "source": "protocol (lr, weight decay, feature map)",
        },
        "inception_v3": {
            "large_feature_map": True,  # the protocol's InceptionV3 runs use the 28x28 variant
            "weight_decay": 5e-4,
            "lr": {"CUB": 2.24844746e-03, "ILSVRC": 3.606503e-04},
            "source": "protocol (lr, weight decay, feature map)",
        },
        "mobilenet_v1": {
            "large_feature_map": False,
            "weight_decay": None,
            "lr": {},
            "source": "wsolx: no published value for lr / weight decay (set them)",
        },
        "vgg_tiny": {
            "large_feature_map": False,
            "weight_decay": 5e-4,
            "lr": {"synthetic": 0.05},
            "new_lr_ratio": 1.0,  # trained from scratch: no pretrained layers to protect
            "epochs": 15,
            "batch_size": 32,
            "input_size": 96,
            "source": "wsolx demo defaults (from-scratch CPU training at 96-128 px)",
        },
    },
    # The paper's released setting (only VGG16 on CUB is released).
    "paper": {
        ("vgg16", "CUB"): {
            "large_feature_map": False,
            "lr": 0.003,
            "new_lr_ratio": 1.0,
            "pretrained_grad_scale": 0.1,
            "weight_decay": 5e-4,
            "epochs": 200,
            "lr_milestones": (60, 120, 180),
            "lr_decay_gamma": 0.1,
            "batch_size": 40,
            "resize_size": 256,
            "crop_size": 224,
            "source": "paper (authors' configs/vgg16_tap.yml; pooling tap, theta_tap and the evaluation "
            "thresholds are the defaults of wsolx.protocol)",
        },
    },
    # Method hyper-parameters (keyword arguments of the methods).
    "methods": {
        "cam": {"source": "protocol"},
        "has": {
            "grid_size": 4,
            "drop_rate": 0.5,
            "source": "protocol config.py (grid in pixels); HaS paper: 16-56 px patches, p=0.5",
        },
        "acol": {"threshold": 0.7, "source": "protocol config.py (acol_threshold)"},
        "spg": {
            "thresholds": ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1)),
            "source": "protocol config.py (spg_threshold_{1,2,3}{h,l})",
        },
        "adl": {"drop_rate": 0.75, "gamma": 0.9, "source": "protocol config.py (adl_drop_rate, adl_threshold)"},
        "cutmix": {"beta": 1.0, "prob": 1.0, "source": "protocol config.py (cutmix_beta, cutmix_prob)"},
    },
}


def get_defaults(arch: str, method: str = "cam", dataset: str = "CUB", profile: str = "protocol") -> Dict[str, Any]:
    """Flat training defaults for one backbone / method / dataset.

    Args:
        arch: registered architecture (``vgg16``, ``resnet50``, ``inception_v3``,
            ``mobilenet_v1``, ``vgg_tiny``).
        method: WSOL method name.
        dataset: ``CUB``, ``ILSVRC`` or ``OpenImages`` (``vgg_tiny``: any name, its demo schedule).
        profile: ``"protocol"`` or ``"paper"`` (only ``vgg16`` / ``CUB``).

    Returns:
        A new dict with ``optimizer``, ``momentum``, ``nesterov``, ``new_lr_ratio``, ``lr``
        (``None`` where no published value exists), ``weight_decay``, ``epochs``,
        ``batch_size``, the lr schedule, ``large_feature_map``, ``tap_theta``, ``method`` and
        ``method_kwargs``.
    """
    backbones = DEFAULTS["backbones"]
    if arch not in backbones:
        raise KeyError(f"no defaults for architecture {arch!r}; known: {sorted(backbones)}")
    if method not in DEFAULTS["methods"]:
        raise KeyError(f"no defaults for method {method!r}; known: {sorted(DEFAULTS['methods'])}")
    opt = DEFAULTS["optimizer"]
    out: Dict[str, Any] = {
        "optimizer": opt["name"],
        "momentum": opt["momentum"],
        "nesterov": opt["nesterov"],
        "new_lr_ratio": opt["new_lr_ratio"],
        "pretrained_grad_scale": opt["pretrained_grad_scale"],
    }
    bb = backbones[arch]
    if profile == "paper":
        key = (arch, dataset)
        if key not in DEFAULTS["paper"]:
            raise KeyError(f"the paper's released settings cover {sorted(DEFAULTS['paper'])}, not {key}")
        out.update({k: v for k, v in DEFAULTS["paper"][key].items() if k != "source"})
    elif profile == "protocol":
        if arch == "vgg_tiny":
            out.update({k: bb[k] for k in ("epochs", "batch_size", "input_size", "new_lr_ratio")})
            out.update({"lr": bb["lr"]["synthetic"], "lr_decay_every": None, "lr_decay_gamma": 0.1})
        else:
            if dataset not in DEFAULTS["datasets"]:
                raise KeyError(f"no defaults for dataset {dataset!r}; known: {sorted(DEFAULTS['datasets'])}")
            ds = DEFAULTS["datasets"][dataset]
            out.update({k: v for k, v in ds.items() if k != "source"})
            out["lr"] = bb["lr"].get(dataset)
        out["weight_decay"] = bb["weight_decay"]
        out["large_feature_map"] = bb["large_feature_map"]
    else:
        raise ValueError(f"profile must be 'protocol' or 'paper', got {profile!r}")
    out["tap_theta"] = default_tap_theta(arch)
    out["method"] = method
    out["method_kwargs"] = default_method_kwargs(method)
    return copy.deepcopy(out)


def default_tap_theta(arch: str) -> float:
    """TAP threshold ratio of ``arch``: its backbone entry's ``tap_theta`` if it has one, else
    ``DEFAULTS["model"]["tap_theta"]`` (read at call time, so an edited table takes effect)."""
    return DEFAULTS["backbones"].get(arch, {}).get("tap_theta", DEFAULTS["model"]["tap_theta"])


def default_method_kwargs(method: str) -> Dict[str, Any]:
    """A new dict of the hyper-parameters of ``method`` from ``DEFAULTS["methods"]`` (empty for a
    method the table does not list)."""
    return copy.deepcopy({k: v for k, v in DEFAULTS["methods"].get(method, {}).items() if k != "source"})
