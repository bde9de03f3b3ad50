"""The base-network store: where a transfer run finds the base network of its source half.

<paths.root>/bases/<series>-<hash>/ holds base.pt (the network's weights and mean image) and
base.json (its checksum and result). The hash covers exactly what makes the base what it is:
data, split and split seed, half, model, recipe and seed (RunSpec.identity of the base spec).
base.json is written last, atomically, so a base is visible only once complete. A file lock
per base makes concurrent runs train it once; the lock is an OS lock (flock), released when its
holder dies, so a killed trainer never leaves a lock that blocks others; an owner file beside it
says who held it, so the next process can tell that it takes over a dead one's work.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import filelock
import torch

from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, save_torch, sha256_file, write_json, write_owner
from transfer_lab.spec import RunSpec

WAIT_MESSAGE_EVERY_S = 30.0


@dataclass
class BaseNetwork:
    folder: Path
    net_state: dict[str, torch.Tensor]
    mean_image: torch.Tensor
    result: dict

    @property
    def checkpoint(self) -> Path:
        return self.folder / "base.pt"


class BaseStore:
    def __init__(self, root: str | Path):
        self.dir = Path(root) / "bases"

    def folder(self, spec: RunSpec) -> Path:
        return self.dir / f"{spec.series}-{spec.config_hash}"

    def find(self, spec: RunSpec, rebuild_command: str) -> BaseNetwork | None:
        """The stored base network of `spec`, checksum verified; None if there is none yet."""
        folder = self.folder(spec)
        if not (folder / "base.json").exists():
            return None
        meta = read_json(folder / "base.json")
        checkpoint = folder / "base.pt"
        if not checkpoint.exists() or sha256_file(checkpoint) != meta["sha256"]:
            raise ConfigError(
                f"base network {checkpoint} is missing or corrupt (checksum mismatch): "
                f"delete {folder} and rebuild it with: {rebuild_command}"
            )
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        return BaseNetwork(folder, state["net"], state["mean_image"], meta["result"])

    def publish(self, spec: RunSpec, net_state: dict, mean_image: torch.Tensor, result: dict) -> None:
        folder = self.folder(spec)
        save_torch(folder / "base.pt", {"net": net_state, "mean_image": mean_image, "identity": spec.identity()})
        write_json(folder / "base.json", {"sha256": sha256_file(folder / "base.pt"), "result": result})

    def get_or_train(
        self, spec: RunSpec, train: Callable[[RunSpec], None], rebuild_command: str
    ) -> BaseNetwork:
        """Find the base network of `spec`, or train it once (other processes wait, then reuse it)."""
        found = self.find(spec, rebuild_command)
        if found is not None:
            return found
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"{spec.series} ({self.folder(spec).name})"
        lock = filelock.FileLock(str(self.folder(spec)) + ".lock")
        owner = Path(str(self.folder(spec)) + ".owner")
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            print(f"waiting for {name}: another process is training it", file=sys.stderr)
            while True:
                try:
                    lock.acquire(timeout=WAIT_MESSAGE_EVERY_S)
                    break
                except filelock.Timeout:
                    print(f"still waiting for {name}", file=sys.stderr)
        try:
            found = self.find(spec, rebuild_command)  # trained by the process we waited for
            if found is None:
                if owner.exists():  # the OS freed the lock when its holder died; say whose work is resumed
                    previous = read_json(owner)
                    print(f"taking over {name}: process {previous['pid']} on {previous['host']} died while training it", file=sys.stderr)
                write_owner(owner)
                print(f"training {name}: no stored base network yet", file=sys.stderr)
                train(spec)
                owner.unlink()
                found = self.find(spec, rebuild_command)
            return found
        finally:
            lock.release()
