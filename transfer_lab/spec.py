"""Config -> experiment spec: the validated, plain-data description of one run.

Everything downstream (data, model, trainer, base store, result record) reads a RunSpec, never the
raw Hydra config. Validation lives here, so bad input fails with one line before any work starts.
"""

import hashlib
import json
import re
import zlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transfer_lab.errors import ConfigError

NUM_LAYERS = 8
HALVES = ("A", "B")
# What makes a study: runs that agree on these are one experiment (their seeds and split seeds are
# pooled); runs that differ are never averaged together. Records carry these fields (study_fields).
STUDY_KEYS = ("dataset", "split", "model", "recipe", "target_per_class")
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
PRESETS = ("+exp=base half=A, +exp=anb k=3, +exp=bnb k=3, +exp=transfer source=A target=B k=3, +exp=random_filters k=3, "
           "+exp=similarity or +exp=probe k=3")
# Kinds with settings of their own (a config subtree of the same name), hashed into their runs only.
KIND_OPTIONS = ("similarity", "probe")
# Kinds whose layers 1..k come from the base network of the source half.
SOURCE_KINDS = ("transfer", "probe")


@dataclass(frozen=True)
class RunSpec:
    kind: str  # "base", "transfer", "random" (random filters: layers 1..k random and frozen), "similarity" or "probe"
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
    root: str = "outputs"
    options: dict = field(default_factory=dict)  # the similarity / probe settings of such runs

    @property
    def series(self) -> str:
        """The paper's name for the run: baseA, BnB, AnB+, ..."""
        if self.kind in ("base", "random"):
            return f"{self.kind}{self.target}"
        if self.kind == "similarity":
            return "similarity"
        if self.kind == "probe":
            return f"probe{self.source}n{self.target}"
        return f"{self.source}n{self.target}" + ("" if self.freeze else "+")

    @property
    def run_name(self) -> str:
        """Readable and unique: dataset/split/series_k[_n<per class>]/seed-hash. Same config, same folder."""
        what = self.series if self.kind in ("base", "similarity") else f"{self.series}_k{self.k}"
        if self.target_per_class is not None:
            what += f"_n{self.target_per_class}"
        split = f"{split_label(self.split)}-s{self.split['seed']}"
        return f"{self.data['name']}/{split}/{what}/seed{self.seed}-{self.config_hash[:8]}"

    def identity(self) -> dict[str, Any]:
        """What determines the result of the run (hashed); not where files live or how it is logged."""
        data = {
            key: value for key, value in self.data.items()
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
        return replace(self, kind="base", target=half, source=None, k=0, freeze=False, data=data, options={})

    def base_overrides(self, overrides: list[str]) -> list[str]:
        """The command-line overrides of this run that its base network shares (base_spec's rule)."""
        own = RUN_KIND_KEYS + (TARGET_ONLY_KEYS if self.kind in SOURCE_KINDS else ())
        keys = [o.split("=")[0].lstrip("+~") for o in overrides]
        return [o for o, key in zip(overrides, keys) if key not in own and key.split(".")[0] not in KIND_OPTIONS]

    @property
    def study(self) -> dict[str, Any]:
        """The study this run belongs to: STUDY_KEYS and their values, as its record holds them."""
        return {
            "dataset": self.data["name"],
            "split": split_label(self.split),
            "model": self.model["name"],
            "recipe": self.recipe["name"],
            "target_per_class": self.target_per_class,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_label(split: dict) -> str:
    """The split's name in run folders and reports; unequal and explicit splits say which they are."""
    if split["name"] == "ratio":
        return f"ratio{split.get('source_classes')}"
    if split["name"] == "classes":
        return f"classes{zlib.crc32(repr((split.get('A'), split.get('B'))).encode()):08x}"
    return split["name"]


def study_name(study: dict[str, Any]) -> str:
    """dataset-split-model-recipe[-n<images per class>]: a study's W&B group and report heading."""
    per_class = study.get("target_per_class")
    name = "-".join(str(study.get(key, "unknown")) for key in STUDY_KEYS[:-1])
    return name + ("" if per_class is None else f"-n{per_class}")


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _half(value: Any, key: str, example: str) -> str:
    if value not in HALVES:
        raise ConfigError(f"{key}={value!r} is not a half: use {key}=A or {key}=B, e.g. {example}")
    return value


RUN_PATTERN = re.compile(
    r"^(?:base(?P<half>[AB])|random(?P<random_half>[AB])_k(?P<random_k>\d+)"
    r"|(?P<probe>probe)?(?P<source>[AB])n(?P<target>[AB])(?P<plus>\+?)_k(?P<k>\d+))$"
)


def parse_run(run: str) -> dict[str, Any]:
    """`run=AnB+_k3` is source=A target=B freeze=false k=3; `run=baseA` a base on A; `run=randomA_k3`
    random filters on A; `run=probeAnB_k3` a linear probe (the sweeps' job names)."""
    match = RUN_PATTERN.match(str(run))
    if match is None:
        raise ConfigError(
            f"run={run!r} is not a run name: use baseA, baseB, random<half>_k<k>, probe<source>n<target>_k<k> "
            "or <source>n<target>[+]_k<k>, e.g. run=AnB+_k3"
        )
    if match["half"]:
        return {"kind": "base", "half": match["half"], "source": None, "target": None, "k": None}
    if match["random_half"]:
        return {"kind": "random", "half": match["random_half"], "source": None, "target": None,
                "k": int(match["random_k"]), "freeze": True}
    if match["probe"]:
        if match["plus"]:
            raise ConfigError(f"run={run}: a probe's layers are always frozen: drop the +, e.g. run=probeAnB_k3")
        return {"kind": "probe", "half": None, "source": match["source"], "target": match["target"], "k": int(match["k"]), "freeze": True}
    return {"kind": "transfer", "half": None, "source": match["source"], "target": match["target"],
            "k": int(match["k"]), "freeze": not match["plus"]}


def _layer_count(k: Any, what: str, example: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= NUM_LAYERS - 1:
        raise ConfigError(f"k={k!r} is not a layer count for {what}: use an integer 1..{NUM_LAYERS - 1}, e.g. {example}")
    return k


def spec_from_config(cfg: DictConfig) -> RunSpec:
    """Validate the composed config and turn it into a RunSpec (raises ConfigError)."""
    choice = {key: None if OmegaConf.is_missing(cfg, key) else cfg.get(key) for key in CHOICE_KEYS}
    if cfg.get("run") is not None:
        choice.update(parse_run(cfg.run))
    kind = choice["kind"]
    if kind is None:
        raise ConfigError(f"no experiment chosen: add one of {PRESETS}")
    if kind not in ("base", "transfer", "random", *KIND_OPTIONS):
        raise ConfigError(f"kind={kind!r} is unknown: use a preset, {PRESETS}")

    # Type checks here rather than in a structured-config schema: the schema's errors are several lines
    # of OmegaConf internals, these are one line that says what to type.
    freeze = choice["freeze"]
    if not isinstance(freeze, bool):
        raise ConfigError(f"freeze={freeze!r} is not a boolean: use freeze=true (frozen, AnB) or freeze=false (fine-tuned, AnB+)")
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} is not an integer: use e.g. seed=0")
    auto_base = cfg.get("auto_base")
    if not isinstance(auto_base, bool):
        raise ConfigError(f"auto_base={auto_base!r} is not a boolean: use auto_base=true or auto_base=false")

    def required(key: str, example: str) -> Any:
        if choice[key] is None:
            preset = "random_filters" if kind == "random" else kind
            raise ConfigError(f"{key} is required for +exp={preset}: add {key}=..., e.g. {example}")
        return choice[key]

    if kind == "base":
        half = _half(required("half", "+exp=base half=A"), "half", "+exp=base half=A")
        if choice["k"] is not None:
            raise ConfigError(f"k={choice['k']} is set for a base run, which copies no layers: drop k, or use +exp=anb k={choice['k']}")
        target, source, k = half, None, 0
    elif kind == "random":
        example = "+exp=random_filters k=3"
        target = _half(required("half", example), "half", example)
        source, k = None, _layer_count(required("k", example), "random filters", example)
        if not freeze:
            raise ConfigError("freeze=false with random filters is a base network: drop freeze=false, or use +exp=base")
    elif kind == "similarity":  # compares base A and base B: no layer count, no direction
        if choice["k"] is not None:
            raise ConfigError(f"k={choice['k']} is set for +exp=similarity, which compares every layer: drop k, or use +exp=probe k={choice['k']}")
        target, source, k = "B", "A", 0
    else:
        example = "+exp=transfer source=A target=B k=3" if kind == "transfer" else "+exp=probe k=3 source=A target=B"
        source = _half(required("source", example), "source", example)
        target = _half(required("target", example), "target", example)
        k = _layer_count(required("k", example), "a transfer" if kind == "transfer" else "a probe", "k=3")
        if kind == "probe" and not freeze:
            raise ConfigError("freeze=false with a probe: a probe's layers are always frozen; fine-tune with +exp=anb freeze=false")
        if choice["half"] is not None:
            raise ConfigError(f"half={choice['half']} is for base runs; a transfer uses source= and target=")

    per_class = cfg.data.get("target_per_class") if cfg.get("data") else None
    if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
        raise ConfigError(
            f"data.target_per_class={per_class!r} is not a number of training images per class: "
            "use an integer >= 1, e.g. data.target_per_class=10, or null for all"
        )

    # Resolve the run's own subtrees only: the root also holds hydra.run.dir, which names the run from this spec.
    container = {key: OmegaConf.to_container(cfg[key], resolve=True) if cfg.get(key) else {} for key in SUBTREES}
    return RunSpec(
        kind=kind,
        target=target,
        source=source,
        k=k,
        freeze=freeze if kind in ("transfer", "random", "probe") else False,
        seed=seed,
        auto_base=auto_base,
        data=container["data"],
        split=container["split"],
        model=container["model"],
        recipe=container["recipe"],
        trainer=container["trainer"],
        callbacks=container["callbacks"],
        logger=container["logger"],
        root=str(cfg.paths.root),
        options=OmegaConf.to_container(cfg[kind], resolve=True) if kind in KIND_OPTIONS else {},
    )
