"""+exp=base half=A: a base network trained from scratch on one half, published to the base store."""

from transfer_lab.errors import ConfigError
from transfer_lab.kinds.registry import RunKind, half, register


class Base(RunKind):
    name, preset, example = "base", "base", "+exp=base half=A"
    run_pattern, run_forms = r"base(?P<half>[AB])", "baseA, baseB"
    stored = True
    runner = "transfer_lab.study.train_base"

    def parse(self, match):
        return {"kind": self.name, "half": match["half"], "source": None, "target": None, "k": None}

    def choose(self, choice):
        target = half(self.required(choice, "half"), "half", self.example)
        if choice["k"] is not None:
            raise ConfigError(
                f"k={choice['k']} is set for a base run, which copies no layers: "
                f"drop k, or use +exp=anb k={choice['k']}"
            )
        return {"target": target, "source": None, "k": 0, "freeze": False}

    def series(self, spec):
        return f"base{spec.target}"

    def tag(self, spec):
        return "base"


KIND = register(Base())
