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
