"""Looking at processes from a test: is a server still running, and waiting for it to end."""

import os
import signal
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Running (a zombie or a missing /proc entry is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def running_under(directory: Path) -> list[int]:
    """Running processes whose working directory is under `directory`: the launcher runs each
    server in a temp dir of its own (TMPDIR), and a server may rewrite its argv and environ
    for its title, never its cwd."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "cwd").startswith(str(directory)):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return [pid for pid in found if alive(pid)]


def kill_all(pids) -> None:
    """SIGKILL what a test caused to be started and failed to stop (never anything else)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
