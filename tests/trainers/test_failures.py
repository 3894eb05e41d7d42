"""A full disk and an out-of-memory during training (issue 7): each ends in a clear error
and a run marked failed, never a hang and never "done"."""

import errno
import json
import subprocess
from pathlib import Path

import pytest
import torch

from cli import main
from tests.trainers.conftest import DEMO_CSV
from trainers import runs
from trainers.pilot import run_pilot

pytestmark = pytest.mark.slow


def _prepare(tiny_model, capsys, *extra) -> Path:
    argv = ["pilot", "--method", "full", "--data", str(DEMO_CSV), "--model", str(tiny_model)]
    assert main([*argv, "--max-steps", "12", "--no-probe", "--prepare", *extra]) == 0
    return Path(capsys.readouterr().out.strip())


def _error(run_dir: Path) -> str:
    return next(e["message"] for e in runs.read_events(run_dir) if e["event"] == "error")


def test_out_of_memory_during_training(tiny_model, runs_dir, capsys, monkeypatch):
    from trainers import sft

    calls = {"n": 0}
    real = sft.AnswerLoss.forward

    def forward(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the allocator gives up at the third step
            raise torch.OutOfMemoryError("CPU out of memory (simulated allocator failure)")
        return real(self, *a, **k)

    monkeypatch.setattr(sft.AnswerLoss, "forward", forward)
    run_dir = _prepare(tiny_model, capsys)
    with pytest.raises(torch.OutOfMemoryError):
        run_pilot(run_dir)
    assert runs.status(run_dir) == "failed"
    assert _error(run_dir).startswith("out of memory: try a smaller --batch-size")
    (row,) = runs.index_list()
    assert row["status"] == "failed"


REAL_OOM = """
import resource, sys
from pathlib import Path
from trainers import sft
from trainers.pilot import run_pilot

real_loop = sft.fit  # the shared training loop, as the SFT recipe calls it


def vm_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024


def loop_without_spare_memory(*a, **k):
    # this process's address space as it is, not a byte more: the first allocation the
    # training step needs fails in the real allocator
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm_bytes(), hard))
    try:
        return real_loop(*a, **k)
    finally:  # as the failed step's memory comes back while the error unwinds
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


sft.fit = loop_without_spare_memory
run_pilot(Path(sys.argv[1]))
"""


def test_real_allocator_out_of_memory_during_training(tiny_model, runs_dir, capsys):
    """No simulation: an address-space limit makes the allocators themselves fail. On CPU
    that is a plain RuntimeError from PyTorch's allocator or from oneDNN (never
    torch.OutOfMemoryError), and both must read as out of memory. Measured: in about one
    trial in four a native library does not survive the failed allocation and the process
    dies of SIGSEGV; then, as after kill -9, the run must not read as done."""
    import signal
    import sys

    run_dir = _prepare(tiny_model, capsys)
    proc = subprocess.run(
        [sys.executable, "-c", REAL_OOM, str(run_dir)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert not (run_dir / "metrics.json").exists()
    if proc.returncode < 0:  # killed by a signal inside native code
        print(f"outcome: {signal.Signals(-proc.returncode).name}")
        assert runs.status(run_dir) in ("failed", "resumable")
        return
    raised = [
        m for m in ("can't allocate memory", "could not create a primitive") if m in proc.stderr
    ]
    print(f"outcome: RuntimeError {raised}")
    assert raised or "MemoryError" in proc.stderr, proc.stderr[-2000:]
    assert runs.status(run_dir) == "failed"
    assert _error(run_dir).startswith("out of memory: try a smaller --batch-size")
    (row,) = runs.index_list()
    assert row["status"] == "failed"


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    ok = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    return ok


def test_full_disk_during_checkpoint(tiny_model, tmp_path, capsys, monkeypatch):
    """On a real 1.5 MB filesystem when this machine allows a mount (root), else with the
    write failing as a full disk does (ENOSPC)."""
    root = tmp_path / "small"
    real_disk = _tmpfs(root, "1536k")
    monkeypatch.setenv("ADAPT_RUNS", str(root))
    try:
        if not real_disk:
            import safetensors.torch

            def full(*a, **k):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(safetensors.torch, "save_file", full)
        run_dir = _prepare(tiny_model, capsys, "--save-every", "4")
        with pytest.raises(OSError) as info:
            run_pilot(run_dir)
        assert info.value.errno == errno.ENOSPC
        assert runs.status(run_dir) == "failed"
        msg = _error(run_dir)
        assert msg.startswith("disk full while writing the run") and "--resume" in msg
        assert not (run_dir / "ckpt.tmp").exists()  # the partial checkpoint gave its space back
        assert not (run_dir / "metrics.json").exists()
        assert main(["runs", "show", run_dir.name, "--json"]) == 1
        assert json.loads(capsys.readouterr().out)["status"] == "failed"
    finally:
        if real_disk:
            subprocess.run(["umount", str(root)], check=False)
