"""ILSVRC-2012 on disk: its two folder layouts, its class table, and the loader training uses.

Layouts of data.root:
  folders  train/<wnid>/*.JPEG and val/<wnid>/*.JPEG
  kaggle   ILSVRC/Data/CLS-LOC/train/<wnid>/*.JPEG, a flat ILSVRC/Data/CLS-LOC/val/ and
           LOC_val_solution.csv (ImageId, then the wnid as first word of PredictionString)
Class index = position of the wnid in the sorted list of the tree's wnids (n01440764 = 0 ...
n15075141 = 999 for the full set). Training never decodes JPEGs: it reads the cache that
`python -m transfer_lab.prepare` writes (transfer_lab/data/cache.py).
"""

import csv
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transfer_lab.data import cache
from transfer_lab.data.images import ClassImages
from transfer_lab.errors import ConfigError

WNID = re.compile(r"n\d{8}")
KAGGLE_DIR = Path("ILSVRC", "Data", "CLS-LOC")
VAL_SOLUTION = "LOC_val_solution.csv"
# The paper's natural classes, in class-index order of the 1000 (the paper's split): 449 natural, 551 man-made.
NATURAL_RANGES = ((0, 397), (936, 958), (970, 970), (972, 998))
LAYOUT_HINT = "train/<wnid>/ + val/<wnid>/, or the Kaggle layout ILSVRC/Data/CLS-LOC/ + LOC_val_solution.csv"


@dataclass(frozen=True)
class ImageNetTree:
    root: Path
    layout: str  # "folders" or "kaggle"
    wnids: list[str]
    phases: dict[str, tuple[list[str], list[int]]]  # "train"/"val" -> (files relative to root, class indices)


def natural_flags(num_classes: int) -> np.ndarray:
    """True for the paper's natural classes. The ranges are positions among the 1000 ILSVRC-2012
    classes: with fewer classes (a subset or a synthetic tree) they apply to positions only."""
    flags = np.zeros(num_classes, dtype=bool)
    for first, last in NATURAL_RANGES:
        flags[first : last + 1] = True
    return flags


def locate(root: str | None) -> tuple[Path, str, Path]:
    """(absolute data.root, its layout, the folder holding train/ and val/); ConfigError if neither layout is there."""
    if not root:
        raise ConfigError(f"data.root is required for data=imagenet: add data.root=/path/to/ILSVRC2012 ({LAYOUT_HINT})")
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise ConfigError(
            f"data.root={root} is not a folder: point data.root at the ILSVRC-2012 folder ({LAYOUT_HINT})"
        )
    for layout, base in (("folders", root), ("kaggle", root / KAGGLE_DIR)):
        if (base / "train").is_dir():
            return root, layout, base
    raise ConfigError(f"data.root={root} holds neither layout ({LAYOUT_HINT}): point data.root at the folder that does")


def scan(root: str | None) -> ImageNetTree:
    """The image files and labels of both phases; ConfigError names any layout problem."""
    root, layout, base = locate(root)
    train_dir, val_dir = base / "train", base / "val"
    wnids = class_folders(train_dir)
    if not wnids:
        raise ConfigError(
            f"{train_dir} holds no <wnid>/ class folders (e.g. n01440764/): "
            f"point data.root at ILSVRC-2012 ({LAYOUT_HINT})"
        )
    label_of = {wnid: i for i, wnid in enumerate(wnids)}
    if not val_dir.is_dir():
        raise ConfigError(
            f"{val_dir} is missing: ImageNet's validation images are the study's evaluation set ({LAYOUT_HINT})"
        )
    val_wnids = class_folders(val_dir)
    if val_wnids:
        stray = sorted(set(val_wnids) - set(wnids))
        if stray:
            raise ConfigError(
                f"{val_dir} has classes without training images ({stray[:3]}): restore train/ or remove them"
            )
        val = files_by_class(root, val_dir, val_wnids, label_of)
    else:
        val = flat_val_files(root, val_dir, label_of)
    phases = {"train": files_by_class(root, train_dir, wnids, label_of), "val": val}
    for phase, (files, _) in phases.items():
        if not files:
            raise ConfigError(f"{base / phase} holds no image files: point data.root at ILSVRC-2012 ({LAYOUT_HINT})")
    return ImageNetTree(root, layout, wnids, phases)


def class_folders(folder: Path) -> list[str]:
    """Sorted wnid folders; any other folder means this is not an ImageNet tree."""
    with os.scandir(folder) as entries:
        names = sorted(entry.name for entry in entries if entry.is_dir())
    odd = [name for name in names if not WNID.fullmatch(name)]
    if odd:
        raise ConfigError(
            f"{folder} has folders that are not wnids ({odd[:3]}): point data.root at ILSVRC-2012 ({LAYOUT_HINT})"
        )
    return names


def image_files(folder: Path) -> list[Path]:
    """Every visible file: one that fails to decode is skipped and listed by prepare, never ignored unseen."""
    with os.scandir(folder) as entries:  # DirEntry types come from the directory listing: no stat per file
        return sorted(Path(entry.path) for entry in entries if entry.is_file() and not entry.name.startswith("."))


def files_by_class(root: Path, folder: Path, wnids: list[str], label_of: dict[str, int]) -> tuple[list[str], list[int]]:
    files, labels = [], []
    for wnid in wnids:
        found = image_files(folder / wnid)
        files += [str(f.relative_to(root)) for f in found]
        labels += [label_of[wnid]] * len(found)
    return files, labels


def flat_val_files(root: Path, val_dir: Path, label_of: dict[str, int]) -> tuple[list[str], list[int]]:
    """Kaggle's flat val/: labels from LOC_val_solution.csv. Rows of classes outside the tree are ignored (a subset)."""
    csv_path = next((p / VAL_SOLUTION for p in (root, *root.parents[:3]) if (p / VAL_SOLUTION).is_file()), None)
    if csv_path is None:
        raise ConfigError(
            f"{val_dir} has no <wnid>/ folders and {root / VAL_SOLUTION} is missing: "
            "add the Kaggle csv or sort val/ into val/<wnid>/"
        )
    with open(csv_path, newline="") as f:
        wnid_of = {row["ImageId"]: row["PredictionString"].split()[0] for row in csv.DictReader(f)}
    found = {f.stem: f for f in image_files(val_dir)}
    unlabelled = sorted(set(found) - set(wnid_of))
    if unlabelled:
        raise ConfigError(
            f"{len(unlabelled)} files in {val_dir} are not in {csv_path} (e.g. {unlabelled[0]}): "
            "remove them or use the matching csv"
        )
    wanted = sorted((label_of[wnid], image_id) for image_id, wnid in wnid_of.items() if wnid in label_of)
    missing = [image_id for _, image_id in wanted if image_id not in found]
    if missing:
        raise ConfigError(
            f"{len(missing)} validation images listed in {csv_path} are missing from {val_dir} "
            f"(e.g. {missing[0]}): restore them"
        )
    return [str(found[i].relative_to(root)) for _, i in wanted], [label for label, _ in wanted]


def cache_dir(data: dict) -> Path:
    return Path(data["cache_dir"]).expanduser()


def prepare_command(data: dict) -> str:
    """The exact command that writes the cache `data` asks for."""
    words = [
        "python -m transfer_lab.prepare",
        "data=imagenet",
        f"data.root={data.get('root')}",
        f"data.image_size={data['image_size']}",
        f"data.cache_dir={data['cache_dir']}",
    ]
    return " ".join(shlex.quote(w) if "=" in w else w for w in words)


def load_imagenet(data: dict) -> ClassImages:
    """The prepared cache of `data` as ClassImages (memory-mapped); ConfigError if it is missing or does not match."""
    folder = cache_dir(data)
    if data["crop_size"] > data["image_size"]:
        raise ConfigError(
            f"data.crop_size={data['crop_size']} does not fit data.image_size={data['image_size']}: "
            "use a smaller crop or a larger image size"
        )
    state = cache.state(folder)
    if state != "complete":
        locate(data.get("root"))  # a missing or wrong data.root is the first thing to fix
        what = (
            "is incomplete (prepare was interrupted): finish it"
            if state == "partial"
            else "does not exist: prepare it once (decodes every image on all CPU cores)"
        )
        raise ConfigError(f"the ImageNet cache {folder} {what} with: {prepare_command(data)}")
    manifest = cache.read_manifest(folder)
    if manifest["image_size"] != data["image_size"]:
        raise ConfigError(
            f"the cache {folder} holds {manifest['image_size']} px images, not data.image_size={data['image_size']}: "
            "choose another data.cache_dir"
        )
    source = manifest["meta"]["root"]
    if data.get("root") and Path(data["root"]).expanduser().resolve() != Path(source).resolve():
        raise ConfigError(
            f"the cache {folder} was prepared from {source}, not data.root={data['root']}: "
            "use that root or another data.cache_dir"
        )
    wnids = manifest["meta"]["wnids"]
    # class_names are the wnids, so split.json lists the wnids of each half.
    return ClassImages(
        name="imagenet", class_names=wnids, natural=natural_flags(len(wnids)), **cache.open_cache(folder)
    )
