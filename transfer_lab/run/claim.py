"""One holder at a time: a claim on a run folder or a stored base network, across processes and hosts.

A claim is an OS file lock (flock: released when its holder dies, so a process killed with -9
never blocks the others) and an owner file beside it that says which process on which host holds
it. A process that finds the claim held says so and waits for it (or, asked not to wait, moves
on); one that gets a claim whose owner file is still there knows its holder died, and says that it
takes over its work.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from transfer_lab.io import read_json, write_owner

WAIT_MESSAGE_EVERY_S = 30.0


def holder_words(owner_file: Path) -> str:
    """'process 123 on host' from an owner file ('another process' if it cannot be read)."""
    try:
        owner = read_json(owner_file)
        return f"process {owner['pid']} on {owner['host']}"
    except (OSError, ValueError, KeyError):
        return "another process"


@contextmanager
def claim(lock_file: Path, owner_file: Path, name: str, wait: bool = True) -> Iterator[bool]:
    """Hold `name` while the block runs; yields False at once (and holds nothing) if another
    process holds it and wait=False. The owner file is removed when the block ends, whatever
    the outcome; only a holder that dies leaves it."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if not wait:
            yield False
            return
        print(f"waiting for {name}: {holder_words(owner_file)} is training it", file=sys.stderr)
        while True:
            try:
                lock.acquire(timeout=WAIT_MESSAGE_EVERY_S)
                break
            except filelock.Timeout:
                print(f"still waiting for {name}", file=sys.stderr)
    try:
        if owner_file.exists():  # the OS freed the lock when its holder died
            print(f"taking over {name}: {holder_words(owner_file)} died while training it", file=sys.stderr)
        write_owner(owner_file)
        try:
            yield True
        finally:
            owner_file.unlink(missing_ok=True)
    finally:
        lock.release()
