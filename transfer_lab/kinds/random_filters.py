"""+exp=random_filters k=3: the paper's random-filters control: layers 1..k keep their random
initialisation, frozen, and layers k+1..8 are trained; no base network."""

from transfer_lab.errors import ConfigError
from transfer_lab.kinds.registry import RunKind, half, layer_count, register


class RandomFilters(RunKind):
    name, preset, example = "random", "random_filters", "+exp=random_filters k=3"
    run_pattern, run_forms = r"random(?P<random_half>[AB])_k(?P<random_k>\d+)", "random<half>_k<k>"
    runner = "transfer_lab.run.fit.fit_kind"

    def parse(self, match):
        return {
            "kind": self.name,
            "half": match["random_half"],
            "source": None,
            "target": None,
            "k": int(match["random_k"]),
            "freeze": True,
        }

    def choose(self, choice):
        target = half(self.required(choice, "half"), "half", self.example)
        k = layer_count(self.required(choice, "k"), "random filters", self.example)
        if not choice["freeze"]:
            raise ConfigError("freeze=false with random filters is a base network: drop freeze=false, or use +exp=base")
        return {"target": target, "source": None, "k": k, "freeze": choice["freeze"]}

    def series(self, spec):
        return f"random{spec.target}"


KIND = register(RandomFilters())
