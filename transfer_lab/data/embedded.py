"""AnimalFashion-20, the dataset embedded in the package (built by scripts/build_animalfashion.py).

Classes 0-9: Animal-MNIST silhouettes (natural); 10-19: Fashion-MNIST clothing (man-made).
28x28 grayscale, ~790 training and 200 validation images per class.
"""

import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from transfer_lab.data.images import ClassImages
from transfer_lab.errors import ConfigError


def load_animalfashion(path: str | None = None) -> ClassImages:
    """Load the .npz into memory; `path=None` reads the copy shipped inside the package."""
    file = Path(path) if path else resources.files("transfer_lab.data") / "animalfashion20.npz"
    try:
        with np.load(file) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ConfigError(
            f"cannot read the AnimalFashion-20 file {file} ({err}); reinstall the package or fix data.path"
        ) from err
    return ClassImages(
        name="animalfashion",
        class_names=[str(n) for n in arrays["class_names"]],
        natural=arrays["natural"].astype(bool),
        train_images=arrays["train_images"][:, None],
        train_labels=arrays["train_labels"].astype(np.int64),
        val_images=arrays["val_images"][:, None],
        val_labels=arrays["val_labels"].astype(np.int64),
    )
