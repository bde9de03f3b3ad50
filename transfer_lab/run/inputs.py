"""What a run can check before any work starts: its data and split, and the settings of its kind.
The CLI checks a single run with it before Hydra creates the run folder, the sweeper every job of a
sweep before the first starts, and a run itself before it trains."""

from transfer_lab.data.registry import check_data
from transfer_lab.kinds import kind_of
from transfer_lab.spec import RunSpec


def check_inputs(spec: RunSpec) -> None:
    """Raise ConfigError (one line naming the fix) on data, a split or kind settings that cannot work."""
    kind_of(spec).check_inputs(spec, *check_data(spec))
