"""CAM backbones for WSOL (docs/semantics.md §8) with a timm-style interface.

Builders (``builder(*, num_classes, pooling="tap"|"gap", tap_theta=None, large_feature_map=False,
weights=None, method="cam", **method_kwargs)``, all forwarding to :func:`build_cam_model`; ``None``
and left-out method hyper-parameters take :data:`DEFAULTS`): :func:`vgg16`, :func:`resnet50`,
:func:`inception_v3`, :func:`mobilenet_v1` and the CPU-sized :func:`vgg_tiny`; or
``get_model(arch, **kwargs)``. Every model has ``forward``, ``forward_features``,
``forward_head``, ``cams``, ``param_groups`` and ``training_loss``
(:class:`~wsolx.models.base.WSOLModel`). :data:`DEFAULTS` holds the training defaults.
"""

from wsolx.models.base import WSOLModel, init_new_layers
from wsolx.models.builder import build_cam_model
from wsolx.models.defaults import DEFAULTS, get_defaults
from wsolx.models.heads import CAMHead, GlobalAvgPool, make_pool
from wsolx.models.inception import InceptionCAM, inception_v3
from wsolx.models.mobilenet import MobileNetV1CAM, mobilenet_v1
from wsolx.models.registry import get_model, list_models, register_model
from wsolx.models.resnet import ResNetCAM, resnet50
from wsolx.models.vgg import VGGCAM, vgg16, vgg_tiny
from wsolx.models.weights import PretrainedWeightsError, load_pretrained_weights, read_state_dict

__all__ = [
    "get_model",
    "build_cam_model",
    "list_models",
    "register_model",
    "WSOLModel",
    "init_new_layers",
    "CAMHead",
    "GlobalAvgPool",
    "make_pool",
    "PretrainedWeightsError",
    "load_pretrained_weights",
    "read_state_dict",
    "VGGCAM",
    "ResNetCAM",
    "InceptionCAM",
    "MobileNetV1CAM",
    "vgg16",
    "vgg_tiny",
    "resnet50",
    "inception_v3",
    "mobilenet_v1",
    "DEFAULTS",
    "get_defaults",
]
