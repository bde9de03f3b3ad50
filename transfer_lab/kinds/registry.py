"""The registry of run kinds: each kind of run (kinds/<kind>.py) is one RunKind, registered by its
module under the name its preset sets (`kind:` in conf/exp/<preset>.yaml), and looked up here.

A RunKind owns what makes its runs differ from the others: its run names (run=...), its checks of
the chosen settings, its series name, the base networks it needs, its own inputs check, how it runs
(`runner`: the dotted name of a function of the run or similarity layer, resolved by study.py, so
that this layer imports no training code), its record file and its kind of job for a sweep's ETA.
"""

from typing import Any

from transfer_lab.errors import ConfigError
from transfer_lab.layout import RESULT_FILE

NUM_LAYERS = 8
HALVES = ("A", "B")


class RunKind:
    """One kind of run. Subclasses set the class attributes and override what differs (kinds/*.py)."""

    name: str  # RunSpec.kind, set by its preset
    preset: str  # conf/exp/<preset>.yaml
    example: str  # a command line of the preset, for messages
    menu: tuple[str, ...] = ()  # its presets as offered when no kind is chosen (default: the example)
    run_pattern: str | None = None  # its names for run=... (a regex with named groups); None: none
    run_forms: str = ""  # those names in words, e.g. baseA, baseB
    record_file: str = RESULT_FILE  # the file whose presence means a run of this kind completed
    has_options: bool = False  # settings of its own in the config subtree of its name, hashed into its runs only
    from_source: bool = False  # layers 1..k come from the base network of the source half
    stored: bool = False  # its network is published to the base store, where other runs find it
    runner: str  # "module.function"(spec, run_dir, store, bases) -> record: how a run of it runs

    def parse(self, match: Any) -> dict[str, Any]:
        """The settings a run=... name that matched run_pattern stands for."""
        raise NotImplementedError

    def choose(self, choice: dict[str, Any]) -> dict[str, Any]:
        """target, source, k and freeze from the chosen settings, checked (ConfigError naming the fix)."""
        raise NotImplementedError

    def required(self, choice: dict[str, Any], key: str) -> Any:
        if choice[key] is None:
            raise ConfigError(f"{key} is required for +exp={self.preset}: add {key}=..., e.g. {self.example}")
        return choice[key]

    def series(self, spec) -> str:
        """The paper's name for a run of this kind (spec: its RunSpec): baseA, AnB, AnB+, ..."""
        raise NotImplementedError

    def bases(self, spec) -> dict[str, Any]:
        """The base networks a run needs (name -> the base's RunSpec), found or trained before it runs."""
        return {"source": spec.base_spec(spec.source)} if self.from_source else {}

    def base_command(self, rebuild_command: str, base) -> str:
        """The command that trains `base`, given the run's (cli.base_command)."""
        return rebuild_command

    def check_inputs(self, spec, dataset, split) -> None:
        """Its own settings and what they ask of the data (run/inputs.py), before any work starts."""

    def job_kind(self, spec) -> str:
        """What a sweep job of this kind trains, for the ETA: jobs of one kind take about as long as each other."""
        return self.name

    def tag(self, spec) -> str:
        """Its W&B tag beside the series: frozen or fine-tuned."""
        return "frozen" if spec.freeze else "fine-tuned"

    def fuses(self, spec) -> bool:
        """Whether runs that differ only in k train side by side in a sweep (run/fused.py)."""
        return False


KINDS: dict[str, RunKind] = {}


def register(kind: RunKind) -> RunKind:
    """Add `kind` to the registry (once per name); its module calls this on import."""
    if kind.name in KINDS:
        raise ValueError(f"run kind {kind.name!r} is registered twice")
    KINDS[kind.name] = kind
    return kind


def presets() -> str:
    """Every kind's presets, in words: +exp=base half=A, +exp=anb k=3, ... or +exp=similarity."""
    offered = [preset for kind in KINDS.values() for preset in kind.menu or (kind.example,)]
    return f"{', '.join(offered[:-1])} or {offered[-1]}"


def kind_named(name: str | None) -> RunKind:
    """The kind a preset chose; one line naming the presets if none or an unknown one was."""
    if name is None:
        raise ConfigError(f"no experiment chosen: add one of {presets()}")
    if name not in KINDS:
        raise ConfigError(f"kind={name!r} is unknown: use a preset, {presets()}")
    return KINDS[name]


def kind_of(spec) -> RunKind:
    """The kind of a RunSpec."""
    return KINDS[spec.kind]


def half(value: Any, key: str, example: str) -> str:
    if value not in HALVES:
        raise ConfigError(f"{key}={value!r} is not a half: use {key}=A or {key}=B, e.g. {example}")
    return value


def layer_count(k: Any, what: str, example: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= NUM_LAYERS - 1:
        raise ConfigError(
            f"k={k!r} is not a layer count for {what}: use an integer 1..{NUM_LAYERS - 1}, e.g. {example}"
        )
    return k
