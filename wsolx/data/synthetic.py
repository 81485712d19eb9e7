"""Synthetic WSOL data set ("SYNTH") in the standard metadata layout.

Every image holds ONE object on a cluttered background. The class of the object is a combination
of a shape, a texture and a colour; class ``k`` uses shape ``k % 8``, texture ``k % 3`` and colour
``k % 5`` (so up to ``8 * 3 * 5 = 120`` distinct classes, and consecutive classes differ in all
three attributes). The object is placed with a random size (tight box covering roughly 10-50% of
the image), position, rotation and aspect ratio. The background (colour gradient, low-frequency
blotches, random strokes and arcs, untextured blobs, pixel noise) is drawn independently of the
class, so it carries no class information but makes localisation non-trivial.

Files written under ``root``::

    images/<split>/<kkk>.<class_name>/<split>_<kkk>_<iiii>.jpg       images (JPEG, quality 90)
    masks/<split>/<kkk>.<class_name>/<split>_<kkk>_<iiii>_mask.png   object masks (0 / 255)
    masks/<split>/.../<split>_<kkk>_<iiii>_ignore.png                 ignore masks (0 / 255)
    metadata/SYNTH/class_names.txt
    metadata/SYNTH/<split>/{image_ids,class_labels,image_sizes,localization}.txt  (boxes)
    metadata/SYNTH_MASK/class_names.txt
    metadata/SYNTH_MASK/<split>/{image_ids,class_labels,image_sizes}.txt
    metadata/SYNTH_MASK/{val,test}/localization.txt   ``path,mask_path,ignore_path`` rows
    synth_info.json                                   the generation parameters

``SYNTH`` is the box variant (like CUB / ILSVRC) and ``SYNTH_MASK`` the mask variant (like
OpenImages30k: masks on val and test only); both share the same images. Boxes are inclusive pixel
coordinates of the object's extent (``x1`` = last object column). The ignore region is the
one-pixel band just outside the object boundary (ambiguous after resizing). Splits are
``train`` / ``val`` (train-fullsup) / ``test``.

Output is deterministic: the same arguments give the same files byte for byte (each image draws
from its own ``numpy`` generator seeded by ``(seed, split, class, index)``).

Load with ``get_dataset("SYNTH", root, root / "metadata", split, train=...)``. Command line:
``python -m wsolx.data.synthetic --root DIR [--num-classes 10 ...]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from wsolx.errors import UsageError, run_command

__all__ = [
    "SHAPES",
    "TEXTURES",
    "COLOURS",
    "MAX_CLASSES",
    "class_attributes",
    "class_name",
    "render_sample",
    "generate",
    "add_synth_arguments",
    "add_synth_parser",
    "cmd_synth",
    "main",
]

SHAPES = ("circle", "square", "triangle", "star", "ring", "cross", "hexagon", "crescent")
TEXTURES = ("stripes", "dots", "checker")
COLOURS: Dict[str, Tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (30, 185, 60),
    "blue": (35, 85, 230),
    "yellow": (235, 205, 30),
    "purple": (160, 50, 210),
}
_COLOUR_NAMES = tuple(COLOURS)
MAX_CLASSES = len(SHAPES) * len(TEXTURES) * len(COLOURS)  # lcm of 8, 3, 5: all combinations
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
_JPEG_QUALITY = 90

PathLike = Union[str, Path]


def class_attributes(k: int) -> Tuple[str, str, str]:
    """``(shape, texture, colour)`` of class ``k`` (``0 <= k < MAX_CLASSES``)."""
    if not 0 <= k < MAX_CLASSES:
        raise ValueError(f"class index must lie in [0, {MAX_CLASSES}), got {k}")
    return SHAPES[k % len(SHAPES)], TEXTURES[k % len(TEXTURES)], _COLOUR_NAMES[k % len(_COLOUR_NAMES)]


def class_name(k: int) -> str:
    """E.g. ``"red_stripes_circle"``."""
    shape, texture, colour = class_attributes(k)
    return f"{colour}_{texture}_{shape}"


# ------------------------------------------------------------------------------------ shapes
def _polygon_inside(u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """Regular n-gon with circumradius 1 and a vertex on the +u axis."""
    apothem = math.cos(math.pi / n)
    inside = np.ones(u.shape, dtype=bool)
    for k in range(n):
        a = 2 * math.pi * (k + 0.5) / n
        inside &= u * math.cos(a) + v * math.sin(a) <= apothem
    return inside


def _star_inside(u: np.ndarray, v: np.ndarray, points: int = 5, inner: float = 0.45) -> np.ndarray:
    """Star polygon with straight edges, outer radius 1, inner radius ``inner``."""
    sector = 2 * math.pi / points
    phi = np.mod(np.arctan2(v, u), sector)
    alpha = np.minimum(phi, sector - phi)  # angle from the nearest tip, in [0, sector / 2]
    # Edge from the tip (1, 0) to the valley (inner * cos(s/2), inner * sin(s/2)).
    px, py = inner * math.cos(sector / 2), inner * math.sin(sector / 2)
    nx, ny = py, 1.0 - px  # normal of the edge (outward for this orientation)
    c = nx * 1.0  # n . tip
    r_edge = c / (nx * np.cos(alpha) + ny * np.sin(alpha))
    return u * u + v * v <= r_edge * r_edge


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    if shape == "circle":
        return r2 <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.74
    if shape == "triangle":
        return _polygon_inside(u, v, 3)
    if shape == "star":
        return _star_inside(u, v)
    if shape == "ring":
        return (r2 <= 1.0) & (r2 >= 0.55**2)
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.32) & (av <= 0.95)) | ((av <= 0.32) & (au <= 0.95))
    if shape == "hexagon":
        return _polygon_inside(u, v, 6)
    if shape == "crescent":
        return (r2 <= 1.0) & ((u - 0.45) ** 2 + v * v >= 0.8**2)
    raise ValueError(f"unknown shape {shape!r}")


def _texture_mask(texture: str, u: np.ndarray, v: np.ndarray, freq: float) -> np.ndarray:
    """Pattern pixels (drawn in the darker colour) in object coordinates."""
    if texture == "stripes":
        return np.sin(u * (2 * math.pi * freq)) > 0
    if texture == "dots":
        fu, fv = np.mod(u * freq, 1.0) - 0.5, np.mod(v * freq, 1.0) - 0.5
        return fu * fu + fv * fv <= 0.32**2
    if texture == "checker":
        return (np.floor(u * freq) + np.floor(v * freq)).astype(np.int64) % 2 == 0
    raise ValueError(f"unknown texture {texture!r}")


# -------------------------------------------------------------------------------- rendering
def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """Class-independent clutter: gradient, blotches, strokes, arcs, plain blobs."""
    s = size
    # Muted colour gradient in a random direction.
    c1 = (128 + (rng.uniform(0, 255, 3) - 128) * 0.6).astype(np.float32)
    c2 = (128 + (rng.uniform(0, 255, 3) - 128) * 0.6).astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    coords = np.arange(s, dtype=np.float32) / max(s - 1, 1)
    t = coords[None, :] * np.float32(math.cos(ang)) + coords[:, None] * np.float32(math.sin(ang))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    bg = c1 * np.float32(0.65) + (c2 - c1) * np.float32(0.65) * t[..., None]
    # Low-frequency blotches.
    g = int(rng.integers(3, 7))
    blot = Image.fromarray(rng.integers(0, 256, (g, g, 3), dtype=np.uint8)).resize((s, s), Image.BILINEAR)
    bg += np.float32(0.35) * np.asarray(blot, dtype=np.float32)
    img = Image.fromarray(bg.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    # Random strokes and arcs anywhere in the image.
    for _ in range(int(rng.integers(4, 10))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        width = int(rng.integers(max(1, s // 112), max(2, s // 22)))
        if rng.random() < 0.6:
            xy = [tuple(float(p) for p in rng.uniform(-0.1 * s, 1.1 * s, 2)) for _ in range(int(rng.integers(2, 5)))]
            draw.line(xy, fill=colour, width=width)
        else:
            cx, cy = rng.uniform(0, s, 2)
            rx, ry = rng.uniform(0.05 * s, 0.4 * s, 2)
            a0 = float(rng.uniform(0, 360))
            draw.arc(
                [cx - rx, cy - ry, cx + rx, cy + ry], a0, a0 + float(rng.uniform(60, 300)), fill=colour, width=width
            )
    # A few small untextured blobs (not objects: no texture, random colour).
    for _ in range(int(rng.integers(0, 3))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = rng.uniform(0, s, 2)
        rx, ry = rng.uniform(0.03 * s, 0.09 * s, 2)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)
    return img


def render_sample(rng: np.random.Generator, k: int, size: int = 224) -> Tuple[np.ndarray, np.ndarray]:
    """Render one image of class ``k``.

    Returns:
        ``image`` ``(size, size, 3)`` uint8 RGB and ``mask`` ``(size, size)`` bool object mask.
    """
    if size < 16:
        raise ValueError(f"image_size must be at least 16, got {size}")
    shape, texture, colour_name = class_attributes(k)
    img = np.asarray(_background(rng, size), dtype=np.float32).copy()

    # Object geometry: bounding-circle diameter d with (d / size)^2 in [0.12, 0.55].
    d = size * math.sqrt(rng.uniform(0.12, 0.55))
    r = d / 2
    sx, sy = r * rng.uniform(0.85, 1.0), r * rng.uniform(0.85, 1.0)
    reach = max(sx, sy)
    theta = rng.uniform(0, 2 * math.pi)
    lo, hi = reach, size - 1 - reach
    cx, cy = rng.uniform(lo, hi), rng.uniform(lo, hi)
    x0, x1 = max(int(math.floor(cx - reach)), 0), min(int(math.ceil(cx + reach)), size - 1)
    y0, y1 = max(int(math.floor(cy - reach)), 0), min(int(math.ceil(cy + reach)), size - 1)
    ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
    dx, dy = xs - cx, ys - cy
    cos, sin = math.cos(theta), math.sin(theta)
    u = (dx * cos + dy * sin) / sx
    v = (-dx * sin + dy * cos) / sy
    inside = _shape_mask(shape, u, v)
    # Texture in object coordinates, random phase.
    pu, pv = rng.uniform(0, 1, 2)
    pattern = _texture_mask(texture, u + pu, v + pv, freq=2.6)

    base = np.asarray(COLOURS[colour_name], dtype=np.float32) + rng.uniform(-15, 15, 3).astype(np.float32)
    dark = base * 0.35
    region = img[y0 : y1 + 1, x0 : x1 + 1]
    fill = np.where(pattern[..., None], dark[None, None, :], base[None, None, :])
    region[inside] = fill[inside]

    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(6.0)
    mask = np.zeros((size, size), dtype=bool)
    mask[y0 : y1 + 1, x0 : x1 + 1] = inside
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), mask


def _outer_band(mask: np.ndarray) -> np.ndarray:
    """Pixels 8-adjacent to the mask but outside it."""
    p = np.pad(mask, 1)
    h, w = mask.shape
    grown = np.zeros_like(mask)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            grown |= p[dy : dy + h, dx : dx + w]
    return grown & ~mask


def _box(mask: np.ndarray) -> Tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


# ------------------------------------------------------------------------------ generation
def generate(
    root: PathLike,
    *,
    num_classes: int = 10,
    train_per_class: int = 100,
    val_per_class: int = 10,
    test_per_class: int = 20,
    image_size: int = 224,
    seed: int = 0,
    masks: bool = True,
    progress: bool = True,
) -> Path:
    """Write the synthetic data set under ``root`` (created if needed) and return ``root``.

    Args:
        root: output folder; load with ``get_dataset("SYNTH", root, root / "metadata", ...)``.
        num_classes: 1 to :data:`MAX_CLASSES` (120).
        train_per_class / val_per_class / test_per_class: images per class in each split (>= 0;
            a split with 0 images is not written).
        image_size: side of the square images (>= 16).
        seed: generation seed; same arguments give the same files byte for byte.
        masks: also write mask PNGs (val and test) and the ``SYNTH_MASK`` metadata.
        progress: show a tqdm progress bar.
    """
    if not 1 <= int(num_classes) <= MAX_CLASSES:
        raise ValueError(f"num_classes must lie in [1, {MAX_CLASSES}], got {num_classes}")
    counts = {"train": int(train_per_class), "val": int(val_per_class), "test": int(test_per_class)}
    if min(counts.values()) < 0 or sum(counts.values()) == 0:
        raise ValueError(f"images per class must be >= 0 and not all 0, got {counts}")
    if not 16 <= int(image_size) <= 4096:
        raise ValueError(f"image_size must lie in [16, 4096], got {image_size}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = [class_name(k) for k in range(num_classes)]
    meta_root = root / "metadata"
    variants = ["SYNTH", "SYNTH_MASK"] if masks else ["SYNTH"]
    for variant in variants:
        _write_lines(meta_root / variant / "class_names.txt", names)

    total = num_classes * sum(counts.values())
    bar = tqdm(total=total, desc="wsolx synth", unit="img", disable=not progress)
    try:
        for split, per_class in counts.items():
            if per_class == 0:
                continue
            with_masks = masks and split != "train"
            ids: List[str] = []
            labels: List[str] = []
            sizes: List[str] = []
            boxes: List[str] = []
            mask_rows: List[str] = []
            for k in range(num_classes):
                folder = f"{k:03d}.{names[k]}"
                (root / "images" / split / folder).mkdir(parents=True, exist_ok=True)
                if with_masks:
                    (root / "masks" / split / folder).mkdir(parents=True, exist_ok=True)
                for i in range(per_class):
                    rng = np.random.default_rng([int(seed), _SPLIT_CODES[split], k, i])
                    image, mask = render_sample(rng, k, int(image_size))
                    stem = f"{split}_{k:03d}_{i:04d}"
                    image_id = f"images/{split}/{folder}/{stem}.jpg"
                    Image.fromarray(image).save(root / image_id, format="JPEG", quality=_JPEG_QUALITY)
                    ids.append(image_id)
                    labels.append(f"{image_id},{k}")
                    sizes.append(f"{image_id},{image_size},{image_size}")
                    bx0, by0, bx1, by1 = _box(mask)
                    boxes.append(f"{image_id},{bx0},{by0},{bx1},{by1}")
                    if with_masks:
                        mask_id = f"masks/{split}/{folder}/{stem}_mask.png"
                        ignore_id = f"masks/{split}/{folder}/{stem}_ignore.png"
                        Image.fromarray(mask.astype(np.uint8) * 255).save(root / mask_id, format="PNG")
                        Image.fromarray(_outer_band(mask).astype(np.uint8) * 255).save(root / ignore_id, format="PNG")
                        mask_rows.append(f"{image_id},{mask_id},{ignore_id}")
                    bar.update(1)
            for variant in variants:
                d = meta_root / variant / split
                _write_lines(d / "image_ids.txt", ids)
                _write_lines(d / "class_labels.txt", labels)
                _write_lines(d / "image_sizes.txt", sizes)
                loc = d / "localization.txt"
                if variant == "SYNTH":
                    _write_lines(loc, boxes)
                elif with_masks:
                    _write_lines(loc, mask_rows)
                elif loc.exists():
                    loc.unlink()
    finally:
        bar.close()
    info = {
        "generator": "wsolx.data.synthetic",
        "num_classes": num_classes,
        "per_class": counts,
        "image_size": int(image_size),
        "seed": int(seed),
        "masks": bool(masks),
        "class_names": names,
    }
    (root / "synth_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return root


def add_synth_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``wsolx synth`` (the arguments of :func:`generate`) to ``p``."""
    p.add_argument("--root", required=True, help="output folder")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--val-per-class", type=int, default=10)
    p.add_argument("--test-per-class", type=int, default=20)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-masks", action="store_true", help="skip the masks and the SYNTH_MASK metadata")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_synth_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Register the ``synth`` command on the ``wsolx`` sub-parsers (called by :mod:`wsolx.cli`)."""
    s = sub.add_parser("synth", help="generate the synthetic data set (SYNTH boxes, SYNTH_MASK masks)")
    add_synth_arguments(s)
    s.set_defaults(func=cmd_synth)
    return s


def cmd_synth(a: argparse.Namespace) -> int:
    """``wsolx synth``: write the set, print where and how to train on it; bad sizes are a
    :class:`~wsolx.errors.UsageError`."""
    t0 = time.time()
    try:
        root = generate(
            a.root,
            num_classes=a.num_classes,
            train_per_class=a.train_per_class,
            val_per_class=a.val_per_class,
            test_per_class=a.test_per_class,
            image_size=a.image_size,
            seed=a.seed,
            masks=not a.no_masks,
            progress=not a.quiet,
        )
    except ValueError as exc:  # bad sizes or counts: a usage error, not a traceback
        raise UsageError(str(exc)) from exc
    print(f"wrote the synthetic set to {root} in {time.time() - t0:.1f} s")
    print(f"train on it with: wsolx train --data-root {root} --dataset SYNTH --arch vgg_tiny --out runs/synth")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: ``python -m wsolx.data.synthetic --root DIR [options]``, the same as
    ``wsolx synth``. Exits with status 2 on bad options."""
    parser = argparse.ArgumentParser(prog="wsolx synth")
    add_synth_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    status = run_command("synth", cmd_synth, args)
    if status != 0:
        raise SystemExit(status)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
