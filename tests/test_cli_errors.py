"""One-line CLI errors (issue 16, item 13): the probes that printed tracebacks now print
``wsolx <command>: error: ...`` naming the file, flag or setting, and exit with status 2."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tiny_runs import train_argv

from wsolx import errors
from wsolx.cli import main
from wsolx.engine import checkpoint as ckpt_mod
from wsolx.engine.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _train_args(root, out, *extra):
    return train_argv(root, out, *extra, masks=False)


@pytest.fixture(scope="module")
def run_dir(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("err_run")
    assert main(_train_args(synth_root, out)) == 0
    return out


def _one_line_error(capsys, argv, *culprits, status=2):
    """Run ``wsolx argv`` in process; assert one stderr line naming every culprit, no traceback."""
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == status, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith(f"wsolx {argv[0]}: "), err
    for c in culprits:
        assert str(c) in lines[0], (c, lines[0])
    return lines[0]


# ------------------------------------------------------------------------------ the probes
def test_device_cuda_without_gpu(synth_root, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    _one_line_error(capsys, _train_args(synth_root, tmp_path / "r", "--device", "cuda"), "--device", "'cuda'")


@pytest.mark.parametrize("size", ["1", "4"])
def test_image_size_too_small(synth_root, tmp_path, capsys, size):
    line = _one_line_error(
        capsys,
        _train_args(synth_root, tmp_path / "r", "--image-size", size, "--resize-size", "8"),
        "too small",
        f" {size} ",
    )
    assert "data.crop_size" in line or "data.image_size" in line


def test_huge_seed(synth_root, tmp_path, capsys):
    _one_line_error(capsys, _train_args(synth_root, tmp_path / "r", "--seed", "1180591620717411303424"), "seed")


def test_diverging_lr(synth_root, tmp_path, capsys):
    _one_line_error(
        capsys,
        _train_args(synth_root, tmp_path / "r", "--lr", "1e10", "--epochs", "4", "--no-test"),
        "optim.lr",
        "--lr",
        "diverged",
    )


@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated", "pickle_code"])
def test_bad_weights_file(synth_root, run_dir, tmp_path, capsys, kind):
    w = tmp_path / f"{kind}.pth"
    if kind == "garbage":
        w.write_bytes(b"not a torch file\x00\x01" * 8)
    elif kind == "empty":
        w.write_bytes(b"")
    elif kind == "truncated":
        data = (run_dir / "best.pt").read_bytes()
        w.write_bytes(data[: len(data) // 2])
    else:  # a pickle that would run code when unpickled without weights_only
        import pickle

        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {tmp_path / 'pwned'}",))

        torch.save({"state_dict": Evil()}, w, pickle_module=pickle)
    _one_line_error(capsys, _train_args(synth_root, tmp_path / "r", "--weights", str(w)), str(w))
    assert not (tmp_path / "pwned").exists()


def test_out_is_an_existing_file(synth_root, tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("x")
    _one_line_error(capsys, _train_args(synth_root, f), str(f))


def test_out_cannot_be_created(synth_root, capsys):
    # A folder under /proc cannot be created (a stand-in for a read-only location, since root can
    # write into folders without write permission).
    _one_line_error(capsys, _train_args(synth_root, "/proc/self/wsolx_out"), "/proc/self/wsolx_out")


def test_eval_out_is_a_directory(run_dir, tmp_path, capsys):
    _one_line_error(
        capsys, ["eval", str(run_dir / "best.pt"), "--out", str(tmp_path), "--workers", "0", "--quiet"], str(tmp_path)
    )


@pytest.mark.parametrize("kind", ["truncated", "empty", "folder", "flipped"])
def test_eval_bad_checkpoint(run_dir, tmp_path, capsys, kind):
    p = tmp_path / "c.pt"
    data = (run_dir / "best.pt").read_bytes()
    if kind == "truncated":
        p.write_bytes(data[: len(data) // 3])
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "folder":
        p.mkdir()
    else:
        p.write_bytes(_flip_tensor_byte(data))
    _one_line_error(capsys, ["eval", str(p), "--workers", "0", "--quiet"], str(p))


def _data_start(data, info) -> int:
    """Offset of a zip member's bytes (the local header's own name and extra lengths count)."""
    h = info.header_offset
    return h + 30 + int.from_bytes(data[h + 26 : h + 28], "little") + int.from_bytes(data[h + 28 : h + 30], "little")


def _flip_tensor_byte(data: bytes) -> bytes:
    """Flip one byte inside the first stored tensor record of a torch zip file (not in the zip
    structure, which would make the file unreadable instead of silently different)."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    start = _data_start(data, info)
    buf = bytearray(data)
    buf[start + info.file_size // 2] ^= 0x40
    return bytes(buf)


def test_eval_nan_weights(run_dir, tmp_path, capsys):
    ck = load_checkpoint(run_dir / "best.pt")
    ck["model"] = {
        k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v) for k, v in ck["model"].items()
    }
    ck.pop("checksum", None)
    ck["format"] = 1  # an older checkpoint without checksum: read as before, then refused for its NaNs
    p = tmp_path / "nan.pt"
    torch.save(ck, p)
    _one_line_error(capsys, ["eval", str(p), "--workers", "0", "--quiet"], str(p), "NaN")


def test_synth_image_size_out_of_range(tmp_path, capsys):
    _one_line_error(
        capsys, ["synth", "--root", str(tmp_path / "s"), "--image-size", "1000000000", "--quiet"], "image_size", "4096"
    )
    assert not (tmp_path / "s").exists()


def test_synth_root_is_a_file(capsys):
    _one_line_error(capsys, ["synth", "--root", "/etc/passwd", "--quiet"], "/etc/passwd")


def test_corrupt_image_names_the_file(synth_root, tmp_path, capsys):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    ids = (root / "metadata" / "SYNTH" / "train" / "image_ids.txt").read_text().split()
    bad = root / ids[1]
    bad.write_bytes(bad.read_bytes()[:200])  # truncated JPEG
    _one_line_error(capsys, _train_args(root, tmp_path / "r"), str(bad))


def test_corrupt_image_in_a_worker_names_the_file(synth_root, tmp_path, capsys):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    ids = (root / "metadata" / "SYNTH" / "train" / "image_ids.txt").read_text().split()
    bad = root / ids[0]
    bad.write_bytes(b"\x89PNG garbage")
    args = _train_args(root, tmp_path / "r")
    args[args.index("--workers") + 1] = "1"
    _one_line_error(capsys, args, str(bad))


def test_bom_in_image_ids_is_not_blamed_on_class_labels(synth_root, tmp_path, capsys):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    f = root / "metadata" / "SYNTH" / "train" / "image_ids.txt"
    f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    assert main(_train_args(root, tmp_path / "r", "--no-test")) == 0, capsys.readouterr().err


def test_non_utf8_metadata_names_the_file(synth_root, tmp_path, capsys):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    f = root / "metadata" / "SYNTH" / "val" / "class_labels.txt"
    f.write_bytes(b"\xff\xfe" + f.read_bytes())
    line = _one_line_error(capsys, _train_args(root, tmp_path / "r"), str(f), "UTF-8")
    assert not line.rstrip().endswith("utf-8")


def test_box_outside_the_image(synth_root, tmp_path, capsys):
    root = tmp_path / "synth"
    shutil.copytree(synth_root, root)
    f = root / "metadata" / "SYNTH" / "test" / "localization.txt"
    rows = f.read_text().splitlines()
    image_id = rows[0].split(",")[0]
    rows[0] = f"{image_id},5,5,40,12"  # the image is 32x32
    f.write_text("\n".join(rows) + "\n")
    _one_line_error(capsys, _train_args(root, tmp_path / "r"), f"{f}:1", "outside")


def test_disk_full_names_the_file(synth_root, tmp_path, capsys, monkeypatch):
    def full(_f, _data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt_mod, "_write_all", full)
    out = tmp_path / "r"
    line = _one_line_error(capsys, _train_args(synth_root, out), "disk full", str(out / "best.pt"))
    assert "unexpected pos" not in line
    assert not list(out.glob("*.tmp")), "the temporary file of the failed save was left behind"


# ------------------------------------------------------------------------------ SIGTERM
def test_sigterm_prints_one_line_and_leaves_a_resumable_last_pt(synth_root, tmp_path):
    out = tmp_path / "run"
    args = _train_args(synth_root, out, "--epochs", "500", "--eval-every", "0", "--no-test")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsolx", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.time() + 240
        while not (out / "last.pt").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1]
        assert (out / "last.pt").exists(), "no epoch finished in time"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("wsolx train: interrupted: stopped by SIGTERM") and str(out / "last.pt") in lines[0]
    ck = load_checkpoint(out / "last.pt")
    done = ck["epoch"]
    assert done >= 1
    # resumable: one more epoch from where it stopped
    resume = _train_args(synth_root, out, "--epochs", str(done + 1), "--eval-every", "0", "--no-test", "--resume")
    res = subprocess.run([sys.executable, "-m", "wsolx", *resume], env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    assert load_checkpoint(out / "last.pt")["epoch"] == done + 1


# ------------------------------------------------------------------------------ the mechanism
def test_report_maps_known_errors_and_leaves_bugs(capsys):
    assert errors.report("x", RuntimeError("a bug")) is None
    assert errors.report("x", KeyError("101")) is None
    assert capsys.readouterr().err == ""
    assert errors.report("x", errors.UsageError("bad --flag\nsecond line")) == 2
    assert capsys.readouterr().err == "wsolx x: error: bad --flag; second line\n"
    assert errors.report("x", OSError(errno.ENOSPC, "No space left on device", "/d/f.pt")) == 2
    assert "no space left on device (disk full) while writing /d/f.pt" in capsys.readouterr().err
    assert errors.report("x", MemoryError("Unable to allocate 3.47 EiB")) == 2
    assert "out of memory (Unable to allocate 3.47 EiB)" in capsys.readouterr().err
    assert errors.report("x", errors.RunInterrupted("stopped", signal.SIGTERM)) == 143
    assert capsys.readouterr().err == "wsolx x: interrupted: stopped\n"


def test_worker_traceback_is_reduced_to_its_message():
    # what torch's DataLoader re-raises in the main process for an error in a worker
    text = (
        "Caught DataError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n    raise DataError(msg)\n'
        "wsolx.errors.DataError: cannot read image file /a/b.jpg (image id 'b.jpg'): broken"
    )
    assert errors.user_message(errors.DataError(text)) == "cannot read image file /a/b.jpg (image id 'b.jpg'): broken"
