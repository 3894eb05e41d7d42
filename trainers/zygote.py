"""The zygote of the warm launcher (trainers/warm.py starts it and sends it requests): it
imports what a pilot needs once, then forks one pilot or preflight probe per request line
on stdin and answers each with the child's pid. Kept apart from the launcher, which
trainers.runs imports, because a pilot imports trainers.runs."""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from pathlib import Path

from trainers.warm import ROOT

# What nearly every pilot imports: trainers.pilot, then the modules it loads when a run
# starts (these about 6 s on a 2 GHz Xeon).
PRELOAD = (
    "trainers.pilot",
    "peft",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
    "transformers.models.llama.modeling_llama",
    "transformers.models.bert.modeling_bert",
)


def serve() -> int:
    sys.modules.setdefault("bitsandbytes", None)  # type: ignore[assignment]
    for name in PRELOAD:
        importlib.import_module(name)
    sys.stdout.flush()
    reply = os.dup(1)  # replies go here, never through sys.stdout's buffer
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps its pilots
    shared = _resident_library_pages()
    child = _fork_each(reply)
    if child is None:
        return 0  # the caller closed the pipe
    _touch(shared)
    return _become_pilot(*child)  # in a forked pilot: exits as a fresh interpreter would


def _resident_library_pages():
    """The addresses of the file-backed pages (the libraries' code and data) resident in
    the zygote. A fork does not copy their page-table entries, so a pilot's resident set
    would leave out some 100 MB a fresh interpreter holds after the same imports (measured:
    RssFile 102 MiB in the zygote, 6 MiB in its fork); the pilot touches them again, and
    its peak memory is a fresh one's. /proc/self/pagemap says which are present."""
    import numpy as np  # array arithmetic only: no torch op runs here

    page, found = os.sysconf("SC_PAGE_SIZE"), []
    with open("/proc/self/maps") as maps, open("/proc/self/pagemap", "rb") as pagemap:
        for line in maps:
            parts = line.split()
            path = parts[5] if len(parts) > 5 else ""
            if not path.startswith("/") or path.startswith("/dev/") or "r" not in parts[1]:
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            pagemap.seek(start // page * 8)  # one 64-bit entry per page; bit 63: present
            entries = np.frombuffer(pagemap.read((end - start) // page * 8), dtype=np.uint64)
            found.append(start + np.flatnonzero(entries >> np.uint64(63)) * page)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _touch(addresses) -> None:
    import ctypes

    for address in addresses.tolist():
        ctypes.string_at(address, 1)


def _fork_each(reply: int) -> tuple[dict, int] | None:
    """Fork one pilot per request line; returns only in a pilot (its request and the
    pipe end it says "set up" on) or, in the zygote, at the end of input."""
    for line in sys.stdin.buffer:
        request = json.loads(line)
        ready_r, ready_w = os.pipe()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            os.close(reply)
            return request, ready_w
        os.close(ready_w)
        os.read(ready_r, 1)  # its own session first, so the caller may kill the group
        os.close(ready_r)
        os.write(reply, f"{pid}\n".encode())
    return None


def _become_pilot(request: dict, ready_w: int) -> int:
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # its own subprocesses are waited for
    os.write(ready_w, b"1")
    os.close(ready_w)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(ROOT)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull)  # noqa: SIM115 (the zygote's buffer held only requests)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        out = os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, fd)
        os.close(out)
    # already in sys.modules (PRELOAD); imported in the function because nothing may load
    # before serve() has marked bitsandbytes absent
    from trainers import runs

    if request["entry"] == "trainers.preflight.probe":
        from trainers.preflight import probe as entry
    else:
        import trainers.pilot as entry
    sys.argv = [entry.__file__, *request["argv"]]
    if not request.get("status"):
        return entry.main(request["argv"])
    code = 1  # what the interpreter exits with when main raises
    try:
        code = entry.main(request["argv"])
    finally:
        # the caller reads the output once the status is there, so it is flushed first
        sys.stdout.flush()
        sys.stderr.flush()
        runs.write_text_atomic(Path(request["status"]), str(code))
    return code


if __name__ == "__main__":
    raise SystemExit(serve())
