"""The job of one network of the study, read top to bottom: already done? claim the run, get its
base network (from the store, or trained first), fit, record. Probes and layer similarity are runs
too: a linear classifier on a base network's frozen layers, CKA between base networks.

One trainer per run: the run's claim (run/claim.py) makes a second process given the same run wait
for the first and then find it done, or, in a sweep (wait=False), move on to its next job.
"""

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from hydra.utils import get_method

from transfer_lab.errors import ConfigError
from transfer_lab.io import write_json
from transfer_lab.kinds import kind_of
from transfer_lab.layout import LOCK_FILE, RESULT_FILE, RUNNING_FILE, run_folder
from transfer_lab.run.claim import claim, holder_words
from transfer_lab.run.fit import fit
from transfer_lab.run.fused import fit_fused
from transfer_lab.run.inputs import check_inputs
from transfer_lab.run.record import completed_result, done_line, record_failure
from transfer_lab.run.store import BaseNetwork, BaseStore
from transfer_lab.spec import RunSpec


class HeldElsewhere(RuntimeError):
    """Another process is training this run (raised only when asked not to wait for it)."""


def run(spec: RunSpec, run_dir: Path, rebuild_command: str = "", wait: bool = True) -> dict:
    """Run `spec` in `run_dir` unless it already completed there; return its result record.
    rebuild_command: the command that trains its base network, for messages that name it."""
    check_inputs(spec)
    run_dir = Path(run_dir)
    with claimed(spec, run_dir, wait) as done:
        if done is None:
            return train(spec, run_dir, BaseStore(spec.root), rebuild_command)
    print(done_line(spec, run_dir, done), file=sys.stderr)
    return done


@contextmanager
def claimed(spec: RunSpec, run_dir: Path, wait: bool) -> Iterator[dict | None]:
    """The run's completed record if it has one (then nothing is claimed), else None while this process
    holds the run's claim (found done by then: its record). Another process holding it: wait for it,
    or raise HeldElsewhere (wait=False)."""
    done = completed_result(spec, run_dir)
    if done is not None:
        yield done
        return
    name = spec.network
    with claim(run_dir / LOCK_FILE, run_dir / RUNNING_FILE, f"{name} ({run_dir})", wait=wait) as held:
        if not held:
            raise HeldElsewhere(f"{name} is being trained by {holder_words(run_dir / RUNNING_FILE)}")
        yield completed_result(spec, run_dir)  # by the process we waited for, or None: ours to train


def run_fused(members: list[tuple[RunSpec, Path]], rebuild_command: str = "") -> list[dict]:
    """Frozen transfers from one base that differ only in k (a sweep's group, sweep/sweeper.py),
    trained side by side (run/fused.py); those already done are found, those another process holds
    left to it. Returns the records of those done or trained here; a failure is recorded in each."""
    check_inputs(members[0][0])
    results, todo = [], []
    with ExitStack() as claims:
        for spec, run_dir in members:
            try:
                done = claims.enter_context(claimed(spec, run_dir, wait=False))
            except HeldElsewhere as err:
                print(f"left to its holder: {err}", file=sys.stderr)
                continue
            if done is not None:
                results.append(done)
            else:
                todo.append((spec, run_dir))
        if not todo:
            return results
        store = BaseStore(todo[0][0].root)
        try:
            base = base_network(todo[0][0].base_spec(todo[0][0].source), store, rebuild_command)
            trained = [fit(*todo[0], store, base)] if len(todo) == 1 else fit_fused(todo, base)
        except Exception as err:
            for spec, run_dir in todo:
                record_failure(spec, run_dir, err)
            raise
    return results + trained


def train(spec: RunSpec, run_dir: Path, store: BaseStore, rebuild_command: str) -> dict:
    """Run `spec` in run_dir the way its kind runs (kinds/: its runner), with the base networks it needs."""
    kind = kind_of(spec)
    bases = {
        name: base_network(base, store, kind.base_command(rebuild_command, base))
        for name, base in kind.bases(spec).items()
    }
    return get_method(kind.runner)(spec, run_dir, store, bases)


def train_base(spec: RunSpec, run_dir: Path, store: BaseStore, bases: dict[str, BaseNetwork]) -> dict:
    """How a base run runs (its kind's runner): trained unless stored, and published to the store."""
    base = stored_base(spec, run_dir, store)
    result = completed_result(spec, run_dir)
    if result is None:  # stored by an earlier run whose folder is gone: the report finds runs by their result.json
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / RESULT_FILE, base.result)
    return result or base.result


def base_network(base_spec: RunSpec, store: BaseStore, rebuild_command: str) -> BaseNetwork:
    """A base network from the store, or trained first in its own run folder (auto_base)."""
    found = store.find(base_spec, rebuild_command)
    if found is not None:
        return found
    if not base_spec.auto_base:
        raise ConfigError(
            f"no base network {base_spec.series} in {store.dir} and auto_base=false: train it with: {rebuild_command}"
        )
    return stored_base(base_spec, run_folder(base_spec.root, base_spec.run_name), store, rebuild_command)


def stored_base(spec: RunSpec, run_dir: Path, store: BaseStore, rebuild_command: str = "") -> BaseNetwork:
    """The base network `spec` describes, trained in run_dir unless stored; trained once even when
    several processes ask at the same moment (the others wait for it)."""
    with store.claim(spec):
        found = store.find(spec, rebuild_command)
        if found is None:
            print(f"training {spec.series} ({store.folder(spec).name}): no stored base network yet", file=sys.stderr)
            fit(spec, run_dir, store)
            found = store.find(spec, rebuild_command)
        return found
