"""wsolx.apps: end-to-end applications built on the library (the top layer, beside :mod:`wsolx.cli`).

They may use every other package (data, models, engine, report); no library package imports them.

Public API::

    run_demo(DemoSettings(...))                the CPU demo behind ``wsolx demo`` (wsolx/apps/demo.py)
"""

from wsolx.apps.demo import DemoSettings, run_demo

__all__ = ["DemoSettings", "run_demo"]
