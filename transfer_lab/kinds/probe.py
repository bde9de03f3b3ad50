"""+exp=probe k=3: layers 1..k of the source half's base network frozen, one linear classifier on
their output trained on the target half (run/probe.py)."""

from transfer_lab.errors import ConfigError
from transfer_lab.kinds.registry import register
from transfer_lab.kinds.transfer import Transfer

# Settings that must be positive, with an example value for the error message.
POSITIVE = {"max_features": 4096, "epochs": 10, "batch_size": 256, "lr": 0.003}


class Probe(Transfer):
    name, preset, example = "probe", "probe", "+exp=probe k=3 source=A target=B"
    run_pattern = r"probe(?P<probe_source>[AB])n(?P<probe_target>[AB])(?P<probe_plus>\+?)_k(?P<probe_k>\d+)"
    run_forms = "probe<source>n<target>_k<k>"
    menu = ("+exp=probe k=3",)
    has_options = True
    runner = "transfer_lab.run.probe.run_probe"
    what = "a probe"

    def parse(self, match):
        if match["probe_plus"]:
            raise ConfigError(
                f"run={match.string}: a probe's layers are always frozen: drop the +, e.g. run=probeAnB_k3"
            )
        return {
            "kind": self.name,
            "half": None,
            "source": match["probe_source"],
            "target": match["probe_target"],
            "k": int(match["probe_k"]),
            "freeze": True,
        }

    def check_freeze(self, freeze):
        if not freeze:
            raise ConfigError(
                "freeze=false with a probe: a probe's layers are always frozen; fine-tune with +exp=anb freeze=false"
            )

    def series(self, spec):
        return f"probe{spec.source}n{spec.target}"

    def job_kind(self, spec):
        return self.name

    def fuses(self, spec):
        return False

    def check_inputs(self, spec, dataset, split):
        """probe.* settings: positive numbers (weight decay >= 0); one line naming the fix."""
        options = spec.options
        for key, example in POSITIVE.items():
            value, integer = options.get(key), isinstance(example, int)
            if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or value <= 0:
                raise ConfigError(
                    f"probe.{key}={value!r}: use a positive {'integer' if integer else 'number'}, "
                    f"e.g. probe.{key}={example}"
                )
        decay = options.get("weight_decay")
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or decay < 0:
            raise ConfigError(f"probe.weight_decay={decay!r}: use a number >= 0, e.g. probe.weight_decay=0.0001")


KIND = register(Probe())
