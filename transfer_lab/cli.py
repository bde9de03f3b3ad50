"""`python -m transfer_lab +exp=anb k=3 freeze=true`: Hydra config -> RunSpec -> train.run."""

import contextlib
import errno
import shlex
import sys
import tempfile
import traceback
import warnings
from importlib import resources
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from transfer_lab.errors import ConfigError
from transfer_lab.spec import RunSpec, spec_from_config

DISK_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES}
# Keys that make a run a base or a transfer run; everything else is shared by a run and its base.
RUN_KIND_KEYS = ("+exp", "exp", "k", "freeze", "source", "target", "half", "auto_base")
# Settings of a run's own half only: a transfer's source base is trained on its full half.
TARGET_ONLY_KEYS = ("data.target_per_class",)
# Settings of a kind of run (similarity.images, probe.lr): not a base network's.
KIND_OPTION_PREFIXES = ("similarity.", "probe.")


def fail(message: str) -> None:
    """One clear line on stderr, exit status 2 (SystemExit passes through Hydra's error report)."""
    print(f"transfer_lab: error: {message}", file=sys.stderr)
    sys.exit(2)


def command_line(program: str, argv: list[str] | None) -> str:
    """The command as typed: `program` and its arguments (sys.argv's when argv is None), shell-quoted."""
    return " ".join([program, *map(shlex.quote, sys.argv[1:] if argv is None else argv)])


def check_writable(root: str) -> None:
    """Try to create a folder where paths.root is (or would be created), rather than trust permission bits."""
    path = Path(root).absolute()
    while not path.exists():
        path = path.parent
    if not path.is_dir():
        fail(f"paths.root={root} cannot be created: {path} is a file, not a folder: choose another with paths.root=DIR")
    try:
        Path(tempfile.mkdtemp(dir=path)).rmdir()
    except OSError as err:
        fail(f"paths.root={root} cannot be created: {path} does not accept new folders ({err.strerror or err}): "
             f"choose another with paths.root=DIR")


def config_groups() -> dict[str, list[str]]:
    """The options of each of the package's config groups (conf/<group>/<option>.yaml); Hydra's own are Hydra's."""
    conf = resources.files("transfer_lab.conf")
    return {
        group.name: sorted(option.name.removesuffix(".yaml") for option in group.iterdir() if option.name.endswith(".yaml"))
        for group in conf.iterdir()
        if group.is_dir() and group.name != "hydra" and not group.name.startswith("_")
    }


def check_group_options(argv: list[str]) -> None:
    """An unknown preset or group option (+exp=anbb, model=alexnet_big) is one line with the valid options, exit 2."""
    groups = config_groups()
    try:
        overrides = OverridesParser.create().parse_overrides([a for a in argv if "=" in a and not a.startswith("-")])
    except HydraException:
        return  # a syntax error: Hydra's own message names it
    for override in overrides:
        options = groups.get(override.key_or_group)
        if options is None or override.is_delete():
            continue
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        for value in values:
            if str(value) not in options:
                kind = "preset" if override.key_or_group == "exp" else f"{override.key_or_group} option"
                fail(f"{override.input_line}: {value!s} is not a {kind}; choose one of: {', '.join(options)}")


def entry() -> None:
    """The command line: group options checked first, then Hydra parses the rest and runs main."""
    check_group_options(sys.argv[1:])
    main()


class CheckConfigBeforeRun(Callback):
    """Validates the config before Hydra creates the run directory, so bad input writes nothing."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        from transfer_lab.train import check_inputs

        check_writable(str(config.paths.root))
        try:
            check_inputs(spec_from_config(config))
        except ConfigError as err:
            fail(str(err))

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        check_writable(str(config.paths.root))


def base_command(spec: RunSpec) -> str:
    """The command that trains the base network `spec` needs, with this run's other overrides."""
    half = spec.source if spec.kind in ("transfer", "probe") else spec.target
    overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    own = RUN_KIND_KEYS + (TARGET_ONLY_KEYS if spec.kind in ("transfer", "probe") else ())
    shared = [o for o in overrides if o.split("=")[0].lstrip("+~") not in own and not o.lstrip("+~").startswith(KIND_OPTION_PREFIXES)]
    return " ".join(["python -m transfer_lab +exp=base", f"half={half}", *shared])


@hydra.main(version_base="1.3", config_path="pkg://transfer_lab.conf", config_name="config")
def main(cfg: DictConfig) -> dict:
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from transfer_lab.console import closing_line, quiet_libraries, wants_verbose
    from transfer_lab.sweep import RunMarker
    from transfer_lab.train import record_name, run  # heavy imports (torch, lightning) after the config is valid

    # Lightning's advice that does not apply here: the CSV logger shares the run folder with result.json by design.
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    if not wants_verbose(cfg, HydraConfig.get().verbose):
        quiet_libraries()
    try:
        spec = spec_from_config(cfg)
    except ConfigError as err:
        fail(str(err))
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with RunMarker(run_dir) as marker:
        try:
            result = run(spec, run_dir, base_command(spec))
        except SIGTERMException:
            # Preempted: not a failure. last.ckpt was saved; the same command resumes from it.
            sys.exit(143)
        except Exception as err:
            message = one_line_error(err, spec)
            with contextlib.suppress(OSError):  # the disk may be what failed
                record_failure(spec, run_dir, err)
            if HydraConfig.get().mode == RunMode.MULTIRUN:
                # The other jobs go on; the job's line says it failed, the end-of-sweep report lists it and exits non-zero.
                marker.error = (message or f"{type(err).__name__}: {err}").splitlines()[0]
                return {"status": "failed", "error": message or str(err)}
            if message:
                fail(message)
            raise
        marker.result = result
    (run_dir / "failed.json").unlink(missing_ok=True)  # a retried run that now completed
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        print(closing_line(result, Path(result.get("run_dir", run_dir)) / record_name(spec)), file=sys.stderr)
    return result


def one_line_error(err: Exception, spec: RunSpec) -> str | None:
    """The one-line message for errors the user can fix; None for bugs (their traceback is shown)."""
    from transfer_lab.divergence import TrainingDiverged

    if isinstance(err, (ConfigError, TrainingDiverged)):
        return str(err)
    if isinstance(err, OSError) and err.errno in DISK_ERRORS:
        return (
            f"cannot write {err.filename or 'under ' + spec.root}: {err.strerror}. Completed files are intact; "
            f"free some space (or choose another paths.root) and re-run the same command to resume"
        )
    return None


def record_failure(spec: RunSpec, run_dir: Path, err: BaseException) -> None:
    """failed.json: the error and the run's study, so that the report lists it with its study."""
    from transfer_lab.io import write_json
    from transfer_lab.splits import split_label

    write_json(
        run_dir / "failed.json",
        {
            "status": "failed",
            "dataset": spec.data["name"],
            "split": split_label(spec.split),
            "split_seed": spec.split["seed"],
            "model": spec.model["name"],
            "recipe": spec.recipe["name"],
            "target_per_class": spec.target_per_class,
            "seed": spec.seed,
            "series": spec.series,
            "k": spec.k,
            "config_hash": spec.config_hash,
            "error": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
            **getattr(err, "record", {}),  # e.g. a diverged run's step, last finite loss and fixes to try
        },
    )
