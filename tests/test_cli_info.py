"""`wsolx info`: the versions a bug report needs."""

from __future__ import annotations

import json

import numpy as np
import torch
import torchvision

from wsolx.cli import main


def test_info_lists_versions_and_backend(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["torch"] == torch.__version__
    assert info["torchvision"] == torchvision.__version__
    assert info["numpy"] == np.__version__
    assert info["torch_cuda_build"] == (torch.version.cuda or "none (CPU build)")
    assert info["backend"] in ("extension", "fallback")
    for key in ("opencv", "matplotlib", "torch_compiler", "cxx", "nvcc", "python_compiler"):
        assert isinstance(info[key], str) and info[key], key
    try:
        import cv2
    except ImportError:
        assert info["opencv"] == "not installed"
    else:
        assert info["opencv"] == cv2.__version__


def test_info_text_has_one_line_per_field(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [ln.split()[0] for ln in lines if ln.strip()]
    assert {"torch", "torchvision", "numpy", "opencv", "torch_cuda_build", "backend", "cxx"} <= set(keys)
