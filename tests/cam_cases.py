"""Deterministic generators of score maps for the CAM -> boxes tests.

``random_scoremaps(n, size, seed, kinds)`` returns ``(n, H, W)`` float32 maps drawn round-robin
from the named kinds in :data:`KINDS`; the same arguments always give the same maps.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = ["KINDS", "TOPOLOGY_KINDS", "random_scoremaps", "make_scoremap"]

Size = Tuple[int, int]
Generator = Callable[[np.random.Generator, Size], np.ndarray]


def _grid(size: Size) -> Tuple[np.ndarray, np.ndarray]:
    h, w = size
    return np.mgrid[0:h, 0:w].astype(np.float64)


def _blobs(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Mixture of 1-5 anisotropic Gaussians (CAM-like), optional small noise."""
    h, w = size
    yy, xx = _grid(size)
    out = np.zeros(size)
    for _ in range(rng.integers(1, 6)):
        cy, cx = rng.uniform(-0.1, 1.1) * h, rng.uniform(-0.1, 1.1) * w
        sy, sx = rng.uniform(0.03, 0.4) * h + 0.3, rng.uniform(0.03, 0.4) * w + 0.3
        out += rng.uniform(0.2, 1.0) * np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))
    if rng.random() < 0.5:
        out += rng.uniform(0, 0.05) * rng.random(size)
    return out


def _cam14(rng: np.random.Generator, size: Size) -> np.ndarray:
    """A random low-resolution CAM (ReLU'd noise, sometimes smoothed) upsampled bicubically."""
    lo = rng.standard_normal((14, 14))
    if rng.random() < 0.5:
        lo = cv2.GaussianBlur(lo, (3, 3), 0)
    lo = np.maximum(lo, 0).astype(np.float32)
    return cv2.resize(lo, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def _noise(rng: np.random.Generator, size: Size) -> np.ndarray:
    return rng.random(size)


def _binary_noise(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Random 0/1 pixels of random density: many components, holes and diagonal contacts."""
    return (rng.random(size) < rng.uniform(0.2, 0.8)).astype(np.float64) + 0.01 * rng.integers(0, 3, size)


def _rings(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Concentric rings / annuli around a random centre: nested holes and islands inside holes."""
    yy, xx = _grid(size)
    cy, cx = rng.uniform(0.2, 0.8) * size[0], rng.uniform(0.2, 0.8) * size[1]
    r = np.hypot((yy - cy) * rng.uniform(0.7, 1.3), xx - cx)
    period = rng.uniform(2.0, 8.0)
    out = np.cos(2 * np.pi * r / period) * np.exp(-r / (rng.uniform(0.5, 3.0) * max(size)))
    return out + 0.2 * (r < period * 0.3)


def _annuli(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Several square / round annuli with islands of different heights inside their holes."""
    h, w = size
    yy, xx = _grid(size)
    out = np.zeros(size)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        radius = rng.uniform(2, max(3.0, 0.5 * max(h, w)))
        thick = rng.uniform(0.7, 3)
        d = np.hypot(yy - cy, xx - cx) if rng.random() < 0.5 else np.maximum(abs(yy - cy), abs(xx - cx))
        out = np.maximum(out, rng.uniform(0.3, 1.0) * (abs(d - radius) < thick))
        out = np.maximum(out, rng.uniform(0.1, 1.0) * (d < rng.uniform(0, max(radius - thick, 0.0) + 0.5)))
    return out


def _lines(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Thin horizontal / vertical / diagonal / anti-diagonal lines (1 px wide)."""
    h, w = size
    out = np.zeros(size, dtype=np.float32)
    for _ in range(rng.integers(1, 6)):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        kind = rng.integers(0, 3)
        if kind == 0:
            p1 = (int(rng.integers(0, w)), p0[1]) if rng.random() < 0.5 else (p0[0], int(rng.integers(0, h)))
        elif kind == 1:
            k = int(rng.integers(-max(h, w), max(h, w)))
            p1 = (p0[0] + k, p0[1] + k * (1 if rng.random() < 0.5 else -1))
        else:
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(out, p0, p1, float(rng.uniform(0.2, 1.0)), 1, lineType=cv2.LINE_8)
    return out


def _pixels(rng: np.random.Generator, size: Size) -> np.ndarray:
    """A few isolated single pixels of random heights on a flat background."""
    out = np.zeros(size)
    count = int(rng.integers(1, 8))
    out[rng.integers(0, size[0], count), rng.integers(0, size[1], count)] = rng.uniform(0.1, 1.0, count)
    return out


def _checker(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Checkerboards with cells of 1-4 px (1 px: diagonal-only foreground contacts)."""
    yy, xx = _grid(size)
    cell = int(rng.integers(1, 5))
    board = ((yy // cell + xx // cell) % 2).astype(np.float64)
    return board * rng.uniform(0.5, 1.0) + (rng.random(size) < 0.1) * rng.uniform(0, 0.5)


def _ties(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Maps with 2-4 distinct values (many equal areas and exact ties on thresholds)."""
    levels = rng.choice([0.0, 0.2, 0.35, 0.5, 0.9, 1.0], size=int(rng.integers(2, 5)), replace=False)
    cell = int(rng.integers(1, 4))
    coarse = rng.choice(levels, size=(-(-size[0] // cell), -(-size[1] // cell)))
    return np.kron(coarse, np.ones((cell, cell)))[: size[0], : size[1]]


def _symmetric(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Mirror-symmetric blobs: components of exactly equal area (tie-breaking on raster order)."""
    base = _blobs(rng, size)
    out = np.maximum(base, base[:, ::-1])
    if rng.random() < 0.5:
        out = np.maximum(out, out[::-1, :])
    return np.round(out * 8) / 8


def _spiral(rng: np.random.Generator, size: Size) -> np.ndarray:
    """A thin square spiral or serpentine: long components with deep run graphs."""
    h, w = size
    out = np.zeros(size)
    if rng.random() < 0.5:
        for y in range(0, h, 2):
            out[y, :] = 1.0
            out[min(y + 1, h - 1), (w - 1) if (y // 2) % 2 == 0 else 0] = 1.0
    else:
        y0, x0, y1, x1 = 0, 0, h - 1, w - 1
        while y0 <= y1 and x0 <= x1:
            out[y0, x0 : x1 + 1] = 1
            out[y0 : y1 + 1, x1] = 1
            out[y1, x0 : x1 + 1] = 1
            out[y0 + 2 : y1 + 1, x0] = 1
            if x0 + 1 <= x1 and y0 + 2 <= y1:
                out[y0 + 2, x0 : x0 + 2] = 1
            y0, x0, y1, x1 = y0 + 2, x0 + 2, y1 - 2, x1 - 2
    return out * rng.uniform(0.5, 1.0) + rng.uniform(0, 0.3) * (rng.random(size) < 0.05)


def _constant(rng: np.random.Generator, size: Size) -> np.ndarray:
    return np.full(size, rng.uniform(-2, 2))


def _nonfinite(rng: np.random.Generator, size: Size) -> np.ndarray:
    """A blob map with a NaN, +inf or -inf somewhere."""
    out = _blobs(rng, size)
    out[rng.integers(0, size[0]), rng.integers(0, size[1])] = rng.choice([np.nan, np.inf, -np.inf])
    return out


def _scaled(rng: np.random.Generator, size: Size) -> np.ndarray:
    """Blobs at extreme scales / offsets (float32 rounding in the normalisation)."""
    return _blobs(rng, size) * 10.0 ** rng.uniform(-30, 30) + rng.choice([0.0, 1e3, -1e6])


KINDS: Dict[str, Generator] = {
    "blobs": _blobs,
    "cam14": _cam14,
    "noise": _noise,
    "binary_noise": _binary_noise,
    "rings": _rings,
    "annuli": _annuli,
    "lines": _lines,
    "pixels": _pixels,
    "checker": _checker,
    "ties": _ties,
    "symmetric": _symmetric,
    "spiral": _spiral,
    "constant": _constant,
    "nonfinite": _nonfinite,
    "scaled": _scaled,
}

#: Kinds whose masks have rich topology (holes, nested components, diagonal contacts).
TOPOLOGY_KINDS = ("binary_noise", "rings", "annuli", "checker", "lines", "spiral", "ties", "noise")


def make_scoremap(kind: str, size: Size, rng: np.random.Generator) -> np.ndarray:
    """One ``(H, W)`` float32 map of the named kind."""
    if kind not in KINDS:
        raise KeyError(f"unknown score map kind {kind!r}; known: {sorted(KINDS)}")
    with np.errstate(all="ignore"):
        out = np.asarray(KINDS[kind](rng, size), dtype=np.float64)
        return out.astype(np.float32)


def random_scoremaps(n: int, size: Union[int, Size], seed: int, kinds: Optional[Sequence[str]] = None) -> np.ndarray:
    """``(n, H, W)`` float32 score maps; map ``i`` is of kind ``kinds[i % len(kinds)]``.

    Args:
        n: number of maps.
        size: ``H`` (square) or ``(H, W)``.
        seed: random seed; equal arguments give equal maps.
        kinds: names from :data:`KINDS` (default: all of them).
    """
    size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    names = list(KINDS) if kinds is None else list(kinds)
    rng = np.random.default_rng(seed)
    out = np.empty((n,) + size, dtype=np.float32)
    for i in range(n):
        out[i] = make_scoremap(names[i % len(names)], size, rng)
    return out
