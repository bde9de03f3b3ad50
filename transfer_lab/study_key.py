"""The one definition of a study: spec.RunSpec.study makes it, every record holds it (run/record.py),
the report groups, names and compares by it, and W&B groups runs by it."""

from dataclasses import dataclass, replace
from typing import Any

# The study's names in every record (StudyKey's fields under these names, its settings as study_settings).
STUDY_KEYS = ("dataset", "split", "model", "recipe", "target_per_class")


@dataclass(frozen=True)
class StudyKey:
    """One study = one training configuration. Runs that agree on everything that changes training
    (RunSpec.study_config) are one experiment and their seeds and split seeds are pooled; runs that
    differ in any of it, a recipe.batch_size=32 as much as another recipe, are never averaged together."""

    dataset: str
    split: str  # split_label
    model: str
    recipe: str
    target_per_class: int | None = None  # training images per class of the target half; None: all
    settings: str | None = None  # hash of study_config; None: a record stored before records held it

    @property
    def name(self) -> str:
        """dataset-split-model-recipe[-n<images per class>]: the report's heading (several configurations
        may share it: the report then says what differs) and, with the settings, the W&B group."""
        name = "-".join(map(str, (self.dataset, self.split, self.model, self.recipe)))
        return name + ("" if self.target_per_class is None else f"-n{self.target_per_class}")

    @property
    def wandb_group(self) -> str:
        return self.name if self.settings is None else f"{self.name}-{self.settings}"

    @property
    def family(self) -> "StudyKey":
        """The study with all images per class: studies that differ only in that form a scarcity family."""
        return replace(self, target_per_class=None)

    def record_fields(self) -> dict[str, Any]:
        return {**{key: getattr(self, key) for key in STUDY_KEYS}, "study_settings": self.settings}

    @classmethod
    def of_record(cls, record: dict) -> "StudyKey":
        """The study a record names; "unknown" for a name it lacks, settings None when stored before them."""
        return cls(
            *(record.get(key, "unknown") for key in STUDY_KEYS[:-1]),
            record.get("target_per_class"),
            record.get("study_settings"),
        )
