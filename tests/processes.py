"""Processes a test starts in a session of their own (``start_new_session=True``), and how to stop
them together with everything they spawned (Ray's raylets and workers, server workers) without
touching any other process on the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil


def session_members(sid: int) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except (psutil.Error, ProcessLookupError, PermissionError):
            pass
    return found


def stop_session(proc: subprocess.Popen, grace: float = 0.0) -> list[str]:
    """SIGTERM the session's leader and wait up to ``grace`` seconds for a clean exit, then SIGKILL
    whatever is left of its session. Returns what had to be SIGKILLed (command lines)."""
    try:
        sid = os.getsid(proc.pid)
    except ProcessLookupError:
        return []
    if grace:
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while session_members(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
    left = session_members(sid)
    killed = []
    for p in left:
        try:
            killed.append(" ".join(p.cmdline()[:2]) or p.name())
            p.kill()
        except psutil.Error:
            pass
    proc.wait(timeout=30)
    psutil.wait_procs(left, timeout=30)
    return killed


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the process and everything it started (its session), at once."""
    stop_session(proc)
