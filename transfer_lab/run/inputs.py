"""What a run can check before any work starts: its data and split, and the settings of its kind.
The CLI checks a single run with it before Hydra creates the run folder, the sweeper every job of a
sweep before the first starts, and a run itself before it trains."""

from transfer_lab.data.registry import check_data, target_half
from transfer_lab.run.probe import check_probe
from transfer_lab.similarity.job import check_similarity
from transfer_lab.spec import RunSpec


def check_inputs(spec: RunSpec) -> None:
    """Raise ConfigError (one line naming the fix) on data, a split or kind settings that cannot work."""
    check_data(spec)
    if spec.kind == "probe":
        check_probe(spec)
    if spec.kind == "similarity":
        dataset, split, _ = target_half(spec)
        check_similarity(spec, dataset, split)
