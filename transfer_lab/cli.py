"""`python -m transfer_lab +exp=anb k=3 freeze=true`: the command line -> Hydra config -> RunSpec -> study.run.

Group options are checked before Hydra starts, the config before Hydra creates the run folder
(bad input writes nothing), and a run that fails leaves failed.json and, for an error the user can
fix, one line. In a sweep a job's failure is its line; the sweep goes on (transfer_lab/sweep).
"""

import contextlib
import sys
import warnings
from importlib import resources
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from hydra_plugins.transfer_lab_sweeper.study_sweeper import StudySweeper
from transfer_lab.console import (
    check_writable,
    closing_line,
    fail,
    one_line_error,
    quiet_imports,
    quiet_libraries,
    wants_verbose,
)
from transfer_lab.errors import ConfigError
from transfer_lab.kinds import kind_of
from transfer_lab.layout import FAILED_FILE, last_checkpoint
from transfer_lab.run.inputs import check_inputs
from transfer_lab.run.record import completed_result, done_line, record_failure, record_file
from transfer_lab.spec import RunSpec, spec_from_config
from transfer_lab.sweep.progress import JobLine, fused_members


def config_groups() -> dict[str, list[str]]:
    """The options of each of the package's config groups (conf/<group>/<option>.yaml); Hydra's own are Hydra's."""
    conf = resources.files("transfer_lab.conf")
    return {
        group.name: sorted(
            option.name.removesuffix(".yaml") for option in group.iterdir() if option.name.endswith(".yaml")
        )
        for group in conf.iterdir()
        if group.is_dir() and group.name != "hydra" and not group.name.startswith("_")
    }


def check_group_options(argv: list[str]) -> None:
    """An unknown preset or group option (+exp=anbb, model=alexnet_big) is one line with the valid
    options, exit 2. Ours because Hydra's own message is a multi-line search-path dump."""
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
    # Hydra finds plugins by listing hydra_plugins, which misses ours in an editable install (pkgutil
    # cannot list setuptools' editable paths): registered by hand, through Hydra's public API.
    Plugins.instance().register(StudySweeper)
    main()


class CheckConfigBeforeRun(Callback):
    """Validates a single run's config before Hydra creates its run directory, so bad input writes
    nothing (a sweep checks all of its jobs itself, transfer_lab/sweep/sweeper.py)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        check_writable(str(config.paths.root))
        try:
            check_inputs(spec_from_config(config))
        except ConfigError as err:
            fail(str(err))


def base_command(spec: RunSpec) -> str:
    """The command that trains the base network `spec` needs, with this run's other overrides."""
    half = spec.source if kind_of(spec).from_source else spec.target
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    return " ".join(["python -m transfer_lab +exp=base", f"half={half}", *spec.base_overrides(overrides)])


def stop_line(stop: BaseException) -> str:
    """What a job stopped by a signal says (run/checkpoints.Interrupted: the step it saved, whether it is requeued)."""
    step = getattr(stop, "step", None)
    at = f" at step {step}" if step is not None else ""
    if getattr(stop, "requeue", None):
        return f"requeued: preempted{at}; it resumes from last.ckpt"
    return f"stopped by SIGTERM{at}; the same command resumes it"


@hydra.main(version_base="1.3", config_path="pkg://transfer_lab.conf", config_name="config")
def main(cfg: DictConfig) -> dict:
    verbose = wants_verbose(cfg, HydraConfig.get().verbose)
    # Checked before Hydra created the run folder: by CheckConfigBeforeRun, or in a sweep by the sweeper's plan.
    spec = spec_from_config(cfg)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        done = None if in_sweep else completed_result(spec, run_dir)
    except ConfigError as err:  # a record that is not JSON, or another config's
        fail(str(err))
    if done is not None:  # read before the training stack loads (~4 s of imports): asked again, a run answers at once
        print(done_line(spec, run_dir, done), file=sys.stderr)
        return finish(spec, done, run_dir / record_file(spec), [run_dir], in_sweep)
    if not verbose:
        quiet_imports()
    # Here, not at the top: Lightning and the training code load only once the config is checked,
    # so that --help and bad input answer in seconds.
    from pytorch_lightning.utilities.exceptions import SIGTERMException  # training stack: see above

    from transfer_lab.run.checkpoints import PREEMPT_SIGNAL  # training stack: see above
    from transfer_lab.study import HeldElsewhere, run, run_fused  # training stack: see above

    # Lightning's advice that does not apply here: the CSV logger shares the run folder with result.json by design.
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    if not verbose:
        quiet_libraries()
    members = fused_members(spec, run_dir) if in_sweep else []  # frozen transfers the sweeper gave this job
    stopped = None
    with JobLine(run_dir) as line:
        try:
            result = (
                run_fused(members, base_command(spec))
                if members
                else run(spec, run_dir, base_command(spec), wait=not in_sweep)
            )
        except HeldElsewhere as err:  # a sweep moves on; the holder finishes the run
            line.skipped = str(err)
            return {"status": "skipped", "reason": str(err)}
        except SIGTERMException as stop:  # stopped or preempted: not a failure (run/checkpoints.py)
            stopped = stop
            line.stopped = stop_line(stop)
        except Exception as err:
            message = one_line_error(err, spec.root)
            with contextlib.suppress(OSError):  # the disk may be what failed
                if not members:  # run_fused records its networks' failures itself
                    record_failure(spec, run_dir, err)
            if in_sweep:
                # The other jobs go on; the job's line says it failed, the end-of-sweep report lists it and exits
                # non-zero.
                line.error = (message or f"{type(err).__name__}: {err}").splitlines()[0]
                return {"status": "failed", "error": message or str(err)}
            if message:
                fail(message)
            raise
        else:
            line.result = result
    if stopped is not None:
        if getattr(stopped, "requeue", None):  # submitit's handler: requeues this SLURM job and exits
            stopped.requeue(PREEMPT_SIGNAL, None)
        print(f"SIGTERM: saved {last_checkpoint(run_dir)}; re-run the same command to resume", file=sys.stderr)
        sys.exit(143)
    record = Path(result.get("run_dir", run_dir)) / record_file(spec)
    return finish(spec, result, record, [folder for _, folder in members] or [run_dir], in_sweep)


def finish(spec: RunSpec, result: dict, record: Path, run_dirs: list[Path], in_sweep: bool) -> dict:
    """The end of a job that trained, or found its run done (`record`: its result file): a retried run that now
    completed loses its failed.json (not a network of a group that diverged: its failure stays); a single run
    prints its closing line."""
    for folder in run_dirs:
        if (folder / record_file(spec)).exists():
            (folder / FAILED_FILE).unlink(missing_ok=True)
    if not in_sweep:
        print(closing_line(result, record), file=sys.stderr)
    return result
