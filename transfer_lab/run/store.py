"""The base-network store: where a transfer run finds the base network of its source half.

<paths.root>/bases/<series>-<hash>/ holds base.pt (the network's weights and mean image) and
base.json (its checksum and result). The hash covers exactly what makes the base what it is:
data, split and split seed, half, model, recipe and seed (RunSpec.identity of the base spec).
base.json is written last, atomically, so a base is visible only once complete. A claim per base
(run/claim.py: an OS lock and an owner file) makes concurrent runs train it once.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from transfer_lab.errors import ConfigError
from transfer_lab.io import read_json, save_torch, sha256_file, write_json
from transfer_lab.layout import BASES
from transfer_lab.run.claim import claim
from transfer_lab.spec import RunSpec

WEIGHTS_FILE = "base.pt"
META_FILE = "base.json"


@dataclass
class BaseNetwork:
    folder: Path
    net_state: dict[str, torch.Tensor]
    mean_image: torch.Tensor
    result: dict

    @property
    def checkpoint(self) -> Path:
        return self.folder / WEIGHTS_FILE


class BaseStore:
    def __init__(self, root: str | Path):
        self.dir = Path(root) / BASES

    def folder(self, spec: RunSpec) -> Path:
        return self.dir / f"{spec.series}-{spec.config_hash}"

    def find(self, spec: RunSpec, rebuild_command: str) -> BaseNetwork | None:
        """The stored base network of `spec`, checksum verified; None if there is none yet."""
        folder = self.folder(spec)
        if not (folder / META_FILE).exists():
            return None
        meta = read_json(folder / META_FILE)
        checkpoint = folder / WEIGHTS_FILE
        if not checkpoint.exists() or sha256_file(checkpoint) != meta["sha256"]:
            raise ConfigError(
                f"base network {checkpoint} is missing or corrupt (checksum mismatch): "
                f"delete {folder} and rebuild it with: {rebuild_command}"
            )
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        return BaseNetwork(folder, state["net"], state["mean_image"], meta["result"])

    def publish(self, spec: RunSpec, net_state: dict, mean_image: torch.Tensor, result: dict) -> Path:
        """Store a trained base network (its weights file first, base.json last); returns the weights file."""
        weights = self.folder(spec) / WEIGHTS_FILE
        save_torch(weights, {"net": net_state, "mean_image": mean_image, "identity": spec.identity()})
        write_json(self.folder(spec) / META_FILE, {"sha256": sha256_file(weights), "result": result})
        return weights

    def claim(self, spec: RunSpec):
        """Hold the right to train the base network of `spec` (others wait, then find it stored)."""
        folder = self.folder(spec)
        return claim(Path(f"{folder}.lock"), Path(f"{folder}.owner"), f"{spec.series} ({folder.name})")
