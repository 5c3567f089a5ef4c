#!/usr/bin/env python3
"""Run a command on a pseudo-terminal, as a person at a prompt would (test bed only).

    python pty_run.py --wait "Enter a value" --then "aws logs put-metric-filter ..." \
        --send yes -- cwfix apply

Waits (up to --timeout s) until the command prints the --wait text, runs the --then shell
command (another person's edit while the prompt waits), types --send and Enter, then prints
everything the command wrote and exits with the command's exit status. Standard library only.
"""
import argparse
import os
import pty
import select
import subprocess
import sys
import time


def read_until(fd: int, needle: bytes, deadline: float, buf: bytearray) -> bool:
    while time.time() < deadline:
        if needle in buf:
            return True
        r, _, _ = select.select([fd], [], [], 0.1)
        if fd in r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return needle in buf
            if not chunk:
                return needle in buf
            buf.extend(chunk)
    return needle in buf


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wait", required=True)
    ap.add_argument("--then", default="")
    ap.add_argument("--send", default="yes")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    buf = bytearray()
    found = read_until(fd, a.wait.encode(), time.time() + a.timeout, buf)
    if not found:
        sys.stdout.write(buf.decode(errors="replace"))
        sys.stdout.write(f"\npty_run: `{a.wait}` did not appear within {a.timeout} s\n")
        os.kill(pid, 9)
        return 99
    if a.then:
        hook = subprocess.run(a.then, shell=True, capture_output=True, text=True)
        if hook.returncode != 0:
            sys.stdout.write(f"pty_run: --then failed ({hook.returncode}): {hook.stderr}\n")
            os.kill(pid, 9)
            return 98
    os.write(fd, (a.send + "\r").encode())
    read_until(fd, b"\x00never", time.time() + a.timeout, buf)
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(buf.decode(errors="replace"))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
