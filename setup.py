"""Build script for wsolx and its C++/CUDA extension ``wsolx._C``.

Switches (environment variables):

* ``CUDA_HOME``            CUDA toolkit to use; defaults to ``/usr/local/cuda`` when that exists
                           (torch would otherwise guess ``/usr/local`` from ``which nvcc``).
* ``FORCE_CUDA=1``         build the CUDA kernels even if torch sees no GPU (the default already
                           builds them whenever nvcc and a CUDA build of torch are present).
* ``WSOLX_NO_CUDA=1``      build only the C++ CPU kernels.
* ``WSOLX_NO_EXTENSION=1`` build no extension at all: the pure-PyTorch fallback runs.
* ``TORCH_CUDA_ARCH_LIST`` GPU architectures; defaults to ``8.0;9.0``.

A failed compile prints a warning and installs the pure-Python package.
"""

from __future__ import annotations

import glob
import os
import warnings

from setuptools import find_packages, setup


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in {"1", "true", "yes", "on"}


def _prepare_cuda_home() -> None:
    """Point torch at the real toolkit before torch.utils.cpp_extension reads CUDA_HOME."""
    if os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"):
        return
    if os.path.exists("/usr/local/cuda/bin/nvcc"):
        os.environ["CUDA_HOME"] = "/usr/local/cuda"


def _pip_cuda_include_dirs() -> list[str]:
    """Headers of the pip-installed CUDA libraries (cuSPARSE, cuBLAS, ...) that torch's CUDA headers
    include; a bare toolkit (nvcc + cudart only) lacks them."""
    try:
        import nvidia  # namespace package installed with CUDA builds of torch
    except ImportError:
        return []
    dirs: list[str] = []
    for root in getattr(nvidia, "__path__", []):
        dirs += sorted(glob.glob(os.path.join(root, "*", "include")))
    return [d for d in dirs if os.path.isdir(d)]


def _extension_modules() -> tuple[list, dict]:
    if _env_flag("WSOLX_NO_EXTENSION"):
        print("wsolx: WSOLX_NO_EXTENSION=1, installing the pure-PyTorch fallback only")
        return [], {}
    _prepare_cuda_home()
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
    except Exception as exc:  # pragma: no cover - torch missing at build time
        warnings.warn(f"wsolx: torch is not importable ({exc}); building without the extension", stacklevel=2)
        return [], {}

    here = os.path.dirname(os.path.abspath(__file__))
    csrc = os.path.join("csrc")
    sources = sorted(glob.glob(os.path.join(csrc, "*.cpp")))
    sources += sorted(glob.glob(os.path.join(csrc, "ops", "*.cpp")))
    sources += sorted(glob.glob(os.path.join(csrc, "ops", "cpu", "*.cpp")))
    cuda_sources = sorted(glob.glob(os.path.join(csrc, "ops", "cuda", "*.cu")))

    nvcc = CUDA_HOME is not None and os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc"))
    with_cuda = not _env_flag("WSOLX_NO_CUDA") and torch.version.cuda is not None and nvcc
    if _env_flag("FORCE_CUDA") and not with_cuda:
        raise RuntimeError("FORCE_CUDA=1 but nvcc or a CUDA build of torch is missing")

    cxx_flags = ["-O3", "-fopenmp", "-ffp-contract=off"]
    define_macros: list[tuple[str, str | None]] = []
    extra_link = ["-fopenmp"]
    extension_cls = CppExtension
    include_dirs = [os.path.join(here, csrc)]
    extra_compile: dict[str, list[str]] = {"cxx": cxx_flags}
    if with_cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
        sources += cuda_sources
        define_macros.append(("WSOLX_WITH_CUDA", None))
        extension_cls = CUDAExtension
        include_dirs += _pip_cuda_include_dirs()
        # --fmad=false: the box kernel must round exactly like the CPU kernel and numpy.
        extra_compile["nvcc"] = ["-O3", "--fmad=false", "-lineinfo"]
    print(f"wsolx: building wsolx._C ({'CPU + CUDA' if with_cuda else 'CPU only'})")
    ext = extension_cls(
        name="wsolx._C",
        sources=sources,
        include_dirs=include_dirs,
        define_macros=define_macros,
        extra_compile_args=extra_compile,
        extra_link_args=extra_link,
    )

    class TolerantBuildExtension(BuildExtension):
        """Warn and fall back to pure Python when the compiler fails."""

        def run(self) -> None:
            try:
                super().run()
            except Exception as exc:  # pragma: no cover - exercised only on broken toolchains
                if _env_flag("WSOLX_STRICT_BUILD"):
                    raise
                warnings.warn(
                    f"wsolx: building the C++/CUDA extension failed ({exc}); the pure-PyTorch fallback will be used",
                    stacklevel=2,
                )

    return [ext], {"build_ext": TolerantBuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = _extension_modules()

setup(
    packages=find_packages(include=["wsolx", "wsolx.*"]),
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
