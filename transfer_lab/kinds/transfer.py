"""+exp=anb / bnb / transfer: layers 1..k copied from the base network of the source half, frozen
(AnB) or fine-tuned (AnB+), the rest trained on the target half."""

from transfer_lab.errors import ConfigError
from transfer_lab.kinds.registry import RunKind, half, layer_count, register


class Transfer(RunKind):
    name, preset, example = "transfer", "transfer", "+exp=transfer source=A target=B k=3"
    run_pattern = r"(?P<source>[AB])n(?P<target>[AB])(?P<plus>\+?)_k(?P<k>\d+)"
    run_forms = "<source>n<target>[+]_k<k>"
    menu = ("+exp=anb k=3", "+exp=bnb k=3", "+exp=transfer source=A target=B k=3")
    from_source = True
    runner = "transfer_lab.run.fit.fit_kind"
    what = "a transfer"  # in a layer count's message

    def parse(self, match):
        return {
            "kind": self.name,
            "half": None,
            "source": match["source"],
            "target": match["target"],
            "k": int(match["k"]),
            "freeze": not match["plus"],
        }

    def choose(self, choice):
        source = half(self.required(choice, "source"), "source", self.example)
        target = half(self.required(choice, "target"), "target", self.example)
        k = layer_count(self.required(choice, "k"), self.what, "k=3")
        self.check_freeze(choice["freeze"])
        if choice["half"] is not None:
            raise ConfigError(f"half={choice['half']} is for base runs; a transfer uses source= and target=")
        return {"target": target, "source": source, "k": k, "freeze": choice["freeze"]}

    def check_freeze(self, freeze: bool) -> None:
        """Both: frozen (AnB) and fine-tuned (AnB+)."""

    def series(self, spec):
        return f"{spec.source}n{spec.target}" + ("" if spec.freeze else "+")

    def job_kind(self, spec):
        return "frozen" if spec.freeze else "fine-tuned"

    def fuses(self, spec):
        return spec.freeze


KIND = register(Transfer())
