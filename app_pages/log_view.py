"""The run log on the Pilot page: its last lines, known harmless library notices kept out
of the first screen."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

# Library notices that say nothing about the run (a kernel package not installed for a
# path this run never takes, deprecation notes): kept out of the log's first screen.
HARMLESS = re.compile(
    r"gemm_4bit_forward|pip install kernels|kernels package|FutureWarning|DeprecationWarning"
    r"|UserWarning: .*TypedStorage|warnings\.warn\(|torch_dtype. is deprecated"
)


def show_log(run_dir: Path, lines: int = 200) -> None:
    """The run's log.txt (its last lines), where failures leave their traceback."""
    path = run_dir / "log.txt"
    with st.expander("run log"):
        if not path.exists():
            st.caption("No log yet.")
            return
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        shown = [t for t in text if not HARMLESS.search(t)]
        if len(shown) < len(text) and not st.checkbox(
            f"show {len(text) - len(shown)} known harmless library warning line(s)",
            key=f"log_all_{run_dir.name}",
        ):
            text = shown
        st.code("\n".join(text) or "(empty)", language=None)
