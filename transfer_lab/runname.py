"""The names of runs: `run=AnB+_k3` on a command line (each kind names its runs, kinds/*.py), and a
network's name, series and layer count, in run folders, job lines and messages."""

import re
from typing import Any

from transfer_lab.errors import ConfigError
from transfer_lab.kinds import KINDS


def run_pattern() -> re.Pattern:
    """Every registered kind's run names, one alternative each."""
    return re.compile("^(?:" + "|".join(kind.run_pattern for kind in KINDS.values() if kind.run_pattern) + ")$")


def parse_run(run: str) -> dict[str, Any]:
    """`run=AnB+_k3` is source=A target=B freeze=false k=3; `run=baseA` a base on A; `run=randomA_k3`
    random filters on A; `run=probeAnB_k3` a linear probe (the sweeps' job names)."""
    match = run_pattern().match(str(run))
    if match is None:
        forms = [kind.run_forms for kind in KINDS.values() if kind.run_pattern]
        raise ConfigError(
            f"run={run!r} is not a run name: use {', '.join(forms[:-1])} or {forms[-1]}, e.g. run=AnB+_k3"
        )
    kind = next(kind for kind in KINDS.values() if kind.run_pattern and re.fullmatch(kind.run_pattern, match.string))
    return kind.parse(match)


def network_name(series: str, k: int | str) -> str:
    """baseA, AnB_k3, BnB+_k1,2,3 (networks trained side by side): the series and its k, if any."""
    return f"{series}_k{k}" if k else series
