"""Import layering of the ``wsolx`` package: every module imports on its own, and no import goes up.

Layers, lowest first (a module may import its own package and any package of a LOWER layer; every
import counts: module level, inside functions, not under ``if TYPE_CHECKING:``)::

    0  wsolx._ext, wsolx.errors, wsolx.protocol, wsolx.serialization      shared base modules
    1  wsolx.ops, wsolx.data                                             tensor ops; data sets
    2  wsolx.metrics (ops, data), wsolx.methods (ops), wsolx.viz         metrics; WSOL objectives; pictures
    3  wsolx.models (methods: a model builds its method)                 CAM backbones
    4  wsolx.adapters (models)                                           foreign models
    5  wsolx (the package's __init__: ops, adapters)                     top-level re-exports
    6  wsolx.engine                                                      config, train / eval loops
    7  wsolx.report (engine: re-runs checkpoints for its overlays)       HTML reports
    8  wsolx.apps (e.g. the demo)                                        applications
    9  wsolx.cli_eval_maps, 10 wsolx.cli, 11 wsolx.__main__              the command line

So no library module imports ``wsolx.cli`` (commands own their parsers and the CLI registers
them), methods use their model only through ``wsolx.methods.MethodHost`` (never ``wsolx.models``),
and data / ops / metrics / models / methods never import the engine or the report.

The engine draws its TensorBoard images with ``wsolx.viz`` (overlays and figures), which sits
below it, so the engine never imports the report.

Private names stay in their package: ``from wsolx.a.b import _name`` and imports of a private
module ``wsolx.a._m`` are allowed only inside ``wsolx.a`` (``wsolx._ext`` is the whole package's).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "wsolx"

LAYERS: List[Tuple[str, ...]] = [
    ("wsolx._ext", "wsolx.errors", "wsolx.protocol", "wsolx.serialization"),
    ("wsolx.ops", "wsolx.data"),
    ("wsolx.metrics", "wsolx.methods", "wsolx.viz"),
    ("wsolx.models",),
    ("wsolx.adapters",),
    ("wsolx",),
    ("wsolx.engine",),
    ("wsolx.report",),
    ("wsolx.apps",),
    ("wsolx.cli_eval_maps",),
    ("wsolx.cli",),
    ("wsolx.__main__",),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: Dict[str, Path] = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _unit(module: str) -> str:
    """The layered unit of a module: ``wsolx.<pkg>`` for subpackages and top-level modules."""
    parts = module.split(".")
    if len(parts) == 1:
        return "wsolx"
    return ".".join(parts[:2])


def _layer(unit: str) -> int:
    for i, units in enumerate(LAYERS):
        if unit in units:
            return i
    raise AssertionError(f"{unit} is in no layer of tests/test_import_layers.py: add it to LAYERS")


def _imports(path: Path) -> Iterator[Tuple[int, str, Optional[str]]]:
    """``(line, module, name)`` of every ``wsolx`` import of a file (``name`` for ``from`` imports),
    those under ``if TYPE_CHECKING:`` excepted."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "wsolx" or alias.name.startswith("wsolx."):
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "wsolx" or node.module.startswith("wsolx."):
                for alias in node.names:
                    yield node.lineno, node.module, alias.name


def _target(module: str, name: Optional[str]) -> str:
    """The wsolx module an import loads (``from wsolx.a import b`` is module ``wsolx.a.b`` when it exists)."""
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module


def test_every_module_is_layered():
    for module in MODULES:
        _layer(_unit(module))


def test_no_upward_imports():
    bad = []
    for module, path in MODULES.items():
        unit = _unit(module)
        for line, mod, name in _imports(path):
            target = _target(mod, name)
            tunit = _unit(target)
            if tunit == unit:
                continue
            if _layer(tunit) >= _layer(unit):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {target} ({unit} may not use {tunit})")
    assert not bad, "imports against the layering (see the docstring of this test):\n" + "\n".join(bad)


def test_only_the_command_line_imports_the_cli():
    allowed = {"wsolx.cli", "wsolx.cli_eval_maps", "wsolx.__main__"}
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {module} imports {mod}"
        for module, path in MODULES.items()
        if module not in allowed
        for line, mod, name in _imports(path)
        if _target(mod, name).startswith(("wsolx.cli", "wsolx.__main__"))
    ]
    assert not bad, "\n".join(bad)


def test_lower_layers_never_import_engine_or_report():
    low = ("wsolx.data", "wsolx.ops", "wsolx.metrics", "wsolx.models", "wsolx.methods")
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {module} imports {mod}"
        for module, path in MODULES.items()
        if _unit(module) in low
        for line, mod, name in _imports(path)
        if _unit(_target(mod, name)) in ("wsolx.engine", "wsolx.report", "wsolx.apps")
    ]
    assert not bad, "\n".join(bad)


def test_no_private_names_across_packages():
    bad = []
    for module, path in MODULES.items():
        unit = _unit(module)
        for line, mod, name in _imports(path):
            target = _target(mod, name)
            private_module = any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[1:])
            private_name = name is not None and name.startswith("_") and not name.startswith("__") and target == mod
            if not (private_module or private_name):
                continue
            if private_module and len(target.split(".")) == 2:
                continue  # a private top-level module (wsolx._ext) belongs to the whole package
            if _unit(target) == unit:
                continue
            bad.append(f"{path.relative_to(ROOT)}:{line}: {module} imports private {mod}{'.' + name if name else ''}")
    assert not bad, "private names used outside their package (make them public where they belong):\n" + "\n".join(bad)


_ISOLATED_IMPORTS = textwrap.dedent(
    """
    import importlib, os, sys, traceback
    # Third-party packages only (loaded once, to keep the children fast): no wsolx module is loaded
    # before a child imports its one.
    for heavy in ("torch", "numpy", "torchvision", "PIL.Image", "tqdm.auto", "matplotlib.figure", "yaml"):
        try:
            importlib.import_module(heavy)
        except ImportError:
            pass
    failed = []
    for name in sys.argv[1:]:
        if hasattr(os, "fork"):
            pid = os.fork()
            if pid == 0:
                try:
                    importlib.import_module(name)
                except BaseException:
                    traceback.print_exc()
                    os._exit(1)
                if not name.startswith("wsolx.cli") and "wsolx.cli" in sys.modules:
                    print(f"importing {name} loads wsolx.cli", file=sys.stderr)
                    os._exit(2)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            ok = status == 0
        else:  # pragma: no cover - no fork: one interpreter per module
            import subprocess
            code = f"import sys, {name}; sys.exit(0 if {name!r}.startswith('wsolx.cli') or 'wsolx.cli' not in sys.modules else 2)"
            ok = subprocess.run([sys.executable, "-c", code]).returncode == 0
        if not ok:
            failed.append(name)
    print("FAILED:" + ",".join(failed))
    """
)


def test_every_module_imports_in_isolation():
    """Each module imports first, alone, in an interpreter without any other wsolx module loaded
    (a fresh child per module), so no module relies on another having been imported before it;
    and importing a library module never loads ``wsolx.cli``."""
    names = [m for m in MODULES if m != "wsolx.__main__"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    res = subprocess.run(
        [sys.executable, "-c", _ISOLATED_IMPORTS, *names],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(ROOT),
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    failed = [n for n in res.stdout.strip().rsplit("FAILED:", 1)[-1].split(",") if n]
    assert not failed, f"modules that do not import on their own: {failed}\n{res.stderr[-4000:]}"
