"""Atomic file writes (a file is either absent or complete, never half-written) and owner markers."""

import csv
import errno
import hashlib
import io
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock

# What a write gets on a full disk (ENOSPC; EFBIG past a file-size limit; EDQUOT) or one it may not write to.
DISK_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES}


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: restored at once
    os.umask(mask)
    return mask


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp makes the file owner-only (0600); the finished file gets the mode any tool's would (umask).
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    # Encoded first: a text that cannot be encoded fails before the temp file exists.
    data = text.encode()
    _write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_csv_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    """A CSV with a header (`columns`) and one line per row (keys not in `columns` left out)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue())


def save_figure_file(fig: Any, path: Path, **savefig_kwargs: Any) -> None:
    """A matplotlib figure saved as `path`, its format named by the suffix (the temp file's name has another)."""
    _write_atomic(path, lambda tmp: fig.savefig(tmp, format=Path(path).suffix.lstrip("."), **savefig_kwargs))


def append_jsonl(path: Path, records: list[dict]) -> None:
    """Records appended to a JSON-lines file by rewriting it whole, atomically: a full disk leaves the
    previous file, never a half line. A lock beside it keeps concurrent appenders from losing lines."""
    path = Path(path)
    lines = "".join(json.dumps(record) + "\n" for record in records)
    with FileLock(path.with_name(path.name + ".lock")):
        before = path.read_text() if path.exists() else ""
        write_text(path, before + lines)


def save_torch(path: Path, obj: Any) -> None:
    # Serialised in memory first: a full disk then raises a plain OSError (ENOSPC / EFBIG) from the
    # file write, instead of torch's opaque writer error.
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _write_atomic(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))


def save_numpy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would append .npy to a path
            np.save(f, array)

    _write_atomic(path, write)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_owner(path: Path) -> None:
    """Record which process holds something (a lock, a running job)."""
    write_json(path, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})


def owner_alive(owner: dict) -> bool:
    """Whether the process an owner record names still runs (assumed so if it ran on another host)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner.get("pid", -1)), 0)
    except (OSError, ValueError):
        return False
    return True
