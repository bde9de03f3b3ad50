"""Config -> experiment spec: the validated, plain-data description of one run.

Everything downstream (data, model, trainer, base store, result record) reads a RunSpec, never the
raw Hydra config. Validation lives here, so bad input fails with one line before any work starts.
"""

import hashlib
import json
import zlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transfer_lab.errors import ConfigError
from transfer_lab.kinds import KINDS, kind_named, kind_of
from transfer_lab.kinds.base import KIND as BASE
from transfer_lab.kinds.registry import HALVES, NUM_LAYERS  # noqa: F401 (the spec's constants, read from here)
from transfer_lab.layout import DEFAULT_ROOT
from transfer_lab.runname import network_name, parse_run
from transfer_lab.study_key import StudyKey

# The base rule, on a command line: overrides that make a run what it is (not shared with its base
# network), and settings of the run's own half only (a transfer's source base trains on its full half).
RUN_KIND_KEYS = ("+exp", "exp", "run", "k", "freeze", "source", "target", "half", "auto_base")
TARGET_ONLY_KEYS = ("data.target_per_class",)
# Data settings that say where the files are or how fast they are read, not what the data is: left out of every hash.
DATA_LOCATION_KEYS = ("path", "root", "cache_dir", "loader_threads")
# Settings added after runs were stored: left out of the hash while unset, so those runs keep their hash.
UNSET_UNHASHED_DATA_KEYS = ("target_per_class",)
# Recipe settings that do not change what a run trains (a resume is exact): hashed as null, their value when runs
# were first stored, so a study given a checkpoint schedule (for a cluster's time limits) finds its stored runs.
UNHASHED_RECIPE_KEYS = ("checkpoint_every_n_steps",)
CHOICE_KEYS = ("kind", "half", "source", "target", "k", "freeze")
# Model settings that change speed, not results: left out of every hash, so a compiled run finds an eager base.
MODEL_SPEED_KEYS = ("compile", "compile_mode")
SUBTREES = ("data", "split", "model", "recipe", "trainer", "callbacks", "logger")


@dataclass(frozen=True)
class RunSpec:
    kind: str  # a registered kind (kinds/): base, transfer, random (random filters), probe or similarity
    target: str  # the half trained and evaluated on
    source: str | None  # transfer: the half whose base network gives layers 1..k
    k: int  # layers copied (random: layers left at their random init); 0 for a base network
    freeze: bool
    seed: int
    auto_base: bool
    data: dict
    split: dict
    model: dict
    recipe: dict
    trainer: dict = field(default_factory=dict)
    callbacks: dict = field(default_factory=dict)
    logger: dict = field(default_factory=dict)
    root: str = DEFAULT_ROOT
    options: dict = field(default_factory=dict)  # the similarity / probe settings of such runs

    @property
    def series(self) -> str:
        """The paper's name for the run: baseA, BnB, AnB+, ..."""
        return kind_of(self).series(self)

    @property
    def network(self) -> str:
        """The series and k: baseA, AnB_k3."""
        return network_name(self.series, self.k)

    @property
    def run_name(self) -> str:
        """Readable and unique: dataset/split/series_k[_n<per class>]/seed-hash. Same config, same folder."""
        what = self.network
        if self.target_per_class is not None:
            what += f"_n{self.target_per_class}"
        split = f"{split_label(self.split)}-s{self.split['seed']}"
        return f"{self.data['name']}/{split}/{what}/seed{self.seed}-{self.config_hash[:8]}"

    def identity(self) -> dict[str, Any]:
        """What determines the result of the run (hashed); not where files live or how it is logged."""
        data = {
            key: value
            for key, value in self.data.items()
            if key not in DATA_LOCATION_KEYS and not (key in UNSET_UNHASHED_DATA_KEYS and value is None)
        }
        model = {key: value for key, value in self.model.items() if key not in MODEL_SPEED_KEYS}
        recipe = {key: None if key in UNHASHED_RECIPE_KEYS else value for key, value in self.recipe.items()}
        return {
            "kind": self.kind,
            "target": self.target,
            "source": self.source,
            "k": self.k,
            "freeze": self.freeze,
            "seed": self.seed,
            "data": data,
            "split": self.split,
            "model": model,
            "recipe": recipe,
            **({"options": self.options} if self.options else {}),  # absent for other kinds: their hashes stay
        }

    @property
    def config_hash(self) -> str:
        return stable_hash(self.identity())

    @property
    def rng_seed(self) -> int:
        """The run's random seed (init, dropout): distinct per run, so fresh layers never repeat the base's init."""
        return int(self.config_hash[:8], 16)

    @property
    def data_seed(self) -> int:
        """The seed of the training images' order, crops and mirrors: shared by runs that differ only in
        k, so transfers at every k see the same batches (as Caffe's fixed-order database gave the paper),
        and seven frozen transfers can train from one pass of their base (run/fused.py)."""
        return int(stable_hash({**self.identity(), "k": None})[:8], 16)

    @property
    def target_per_class(self) -> int | None:
        """Training images kept per class of the run's own half (None: all of them)."""
        return self.data.get("target_per_class")

    def base_spec(self, half: str) -> "RunSpec":
        """The base network of `half` with this run's split, model, recipe and seed, trained on the
        half's full data: only the run's own (target) half is made scarce."""
        data = {**self.data, "target_per_class": None}
        return replace(self, kind=BASE.name, target=half, source=None, k=0, freeze=False, data=data, options={})

    def base_overrides(self, overrides: list[str]) -> list[str]:
        """The command-line overrides of this run that its base network shares (base_spec's rule)."""
        own = RUN_KIND_KEYS + (TARGET_ONLY_KEYS if kind_of(self).from_source else ())
        options = [kind.name for kind in KINDS.values() if kind.has_options]
        keys = [o.split("=")[0].lstrip("+~") for o in overrides]
        return [o for o, key in zip(overrides, keys) if key not in own and key.split(".")[0] not in options]

    @property
    def study_config(self) -> dict[str, Any]:
        """What changes training, shared by every run of the study: the identity less the run's own network
        (kind, halves, k, freeze, kind options), its seeds (seed, split.seed) and the target's images per
        class (a StudyKey field of its own, so that the studies of a scarcity family differ in it only)."""
        identity = self.identity()
        return {
            "data": {key: value for key, value in identity["data"].items() if key != "target_per_class"},
            "split": {key: value for key, value in self.split.items() if key != "seed"},
            "model": identity["model"],
            "recipe": identity["recipe"],
        }

    @property
    def study(self) -> StudyKey:
        """The study this run belongs to (its records hold it: StudyKey.record_fields)."""
        return StudyKey(
            self.data["name"],
            split_label(self.split),
            self.model["name"],
            self.recipe["name"],
            self.target_per_class,
            stable_hash(self.study_config)[:8],
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_label(split: dict) -> str:
    """The split's name in run folders and reports; unequal and explicit splits say which they are."""
    if split["name"] == "ratio":
        return f"ratio{split.get('source_classes')}"
    if split["name"] == "classes":
        return f"classes{zlib.crc32(repr((split.get('A'), split.get('B'))).encode()):08x}"
    return split["name"]


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def spec_from_config(cfg: DictConfig) -> RunSpec:
    """Validate the composed config and turn it into a RunSpec (raises ConfigError)."""
    choice = chosen(cfg)
    kind = kind_named(choice["kind"])
    check_common(cfg, choice)
    return build_spec(cfg, kind.name, **kind.choose(choice))


def chosen(cfg: DictConfig) -> dict[str, Any]:
    """The run's kind, halves, k and freeze as set by its preset, keys and run=... name."""
    choice = {key: None if OmegaConf.is_missing(cfg, key) else cfg.get(key) for key in CHOICE_KEYS}
    if cfg.get("run") is not None:
        choice.update(parse_run(cfg.run))
    return choice


def check_common(cfg: DictConfig, choice: dict[str, Any]) -> None:
    """The settings every kind has. Type checks here rather than in a structured-config schema: the
    schema's errors are several lines of OmegaConf internals, these are one line that says what to type."""
    freeze = choice["freeze"]
    if not isinstance(freeze, bool):
        raise ConfigError(
            f"freeze={freeze!r} is not a boolean: use freeze=true (frozen, AnB) or freeze=false (fine-tuned, AnB+)"
        )
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} is not an integer: use e.g. seed=0")
    auto_base = cfg.get("auto_base")
    if not isinstance(auto_base, bool):
        raise ConfigError(f"auto_base={auto_base!r} is not a boolean: use auto_base=true or auto_base=false")


def check_per_class(cfg: DictConfig) -> None:
    per_class = cfg.data.get("target_per_class") if cfg.get("data") else None
    if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
        raise ConfigError(
            f"data.target_per_class={per_class!r} is not a number of training images per class: "
            "use an integer >= 1, e.g. data.target_per_class=10, or null for all"
        )


def build_spec(cfg: DictConfig, kind: str, target: str, source: str | None, k: int, freeze: bool) -> RunSpec:
    """The RunSpec of a checked config and the fields its kind chose."""
    check_per_class(cfg)
    # Resolve the run's own subtrees only: the root also holds hydra.run.dir, which names the run from this spec.
    container = {key: OmegaConf.to_container(cfg[key], resolve=True) if cfg.get(key) else {} for key in SUBTREES}
    return RunSpec(
        kind=kind,
        target=target,
        source=source,
        k=k,
        freeze=freeze,
        seed=cfg.get("seed"),
        auto_base=cfg.get("auto_base"),
        data=container["data"],
        split=container["split"],
        model=container["model"],
        recipe=container["recipe"],
        trainer=container["trainer"],
        callbacks=container["callbacks"],
        logger=container["logger"],
        root=str(cfg.paths.root),
        options=OmegaConf.to_container(cfg[kind], resolve=True) if KINDS[kind].has_options else {},
    )
