"""Load a report.html in headless Chromium: images that failed to load, script errors, a screenshot.

Used by ``tests/test_report_runs.py`` (skipped when no Chromium is installed) and as a script::

    python tests/browser_check.py wsolx_demo/report.html --screenshot /tmp/report.png

A probe page written next to the report for the duration of the check loads the report in an
iframe (``--allow-file-access-from-files`` lets it look inside) and logs, through the console,
how many ``<img>`` elements there are and which did not decode. Console errors of the report
itself (``Uncaught ...``) are collected from Chromium's log.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

__all__ = ["find_chromium", "check_page", "screenshot"]

_PROBE = """<!DOCTYPE html><html><body>
<iframe id="f" src="{page}" style="width:1280px;height:900px"></iframe>
<script>
document.getElementById("f").addEventListener("load", function () {{
  var r = {{images: 0, broken: [], title: ""}};
  try {{
    var d = this.contentDocument;
    r.title = d.title;
    for (var i = 0; i < d.images.length; i++) {{
      var img = d.images[i];
      r.images++;
      if (!(img.complete && img.naturalWidth > 0)) r.broken.push(img.getAttribute("src"));
    }}
  }} catch (e) {{ r.error = String(e); }}
  console.log("WSOLX_CHECK " + JSON.stringify(r));
}});
</script></body></html>
"""

_FLAGS = [
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def find_chromium() -> Optional[str]:
    """Path of a Chromium / Chrome executable, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def check_page(
    html: Path, *, chromium: Optional[str] = None, budget_ms: int = 8000, timeout: float = 120
) -> Dict[str, Any]:
    """Load ``html`` headless.

    Returns:
        ``{"images": n, "broken": [src, ...], "console_errors": [line, ...], "title": str}``
        (``error`` when the probe could not look inside the page).
    """
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("no chromium executable found")
    html = Path(html).resolve()
    probe = html.parent / ".wsolx_browser_check.html"
    probe.write_text(_PROBE.format(page=html.name))
    try:
        res = subprocess.run(
            [
                exe,
                *_FLAGS,
                "--allow-file-access-from-files",
                "--enable-logging=stderr",
                "--v=0",
                f"--virtual-time-budget={budget_ms}",
                "--dump-dom",
                probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        probe.unlink(missing_ok=True)
    found: Optional[Dict[str, Any]] = None
    errors: List[str] = []
    for line in res.stderr.splitlines():
        if ":CONSOLE" not in line:
            continue
        if "WSOLX_CHECK " in line:
            payload = line.split("WSOLX_CHECK ", 1)[1]
            payload = payload[: payload.rindex("}") + 1]
            found = json.loads(payload.replace('\\"', '"'))
        elif "Uncaught" in line or "Error" in line:
            errors.append(line.split("CONSOLE", 1)[1])
    if found is None:
        raise RuntimeError(f"the probe page reported nothing (chromium exit {res.returncode}): {res.stderr[-2000:]}")
    found["console_errors"] = errors
    return found


def screenshot(
    html: Path,
    png: Path,
    *,
    chromium: Optional[str] = None,
    width: int = 1280,
    height: int = 3000,
    budget_ms: int = 8000,
    timeout: float = 120,
) -> Path:
    """A ``width`` x ``height`` PNG of ``html`` as headless Chromium renders it."""
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("no chromium executable found")
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            exe,
            *_FLAGS,
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={png}",
            Path(html).resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("html", type=Path)
    p.add_argument("--screenshot", type=Path)
    p.add_argument("--height", type=int, default=3000)
    a = p.parse_args(argv)
    r = check_page(a.html)
    print(json.dumps(r, indent=2))
    if a.screenshot:
        print(f"screenshot: {screenshot(a.html, a.screenshot, height=a.height)}")
    return 1 if r["broken"] or r["console_errors"] or r.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
