"""The exceptions a user can act on: their message is a single line naming the problem and the fix."""


class ConfigError(ValueError):
    """Bad input: a config value, a missing file or base network, a data set that cannot be read."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; `record` holds what failed.json keeps of it."""

    def __init__(
        self, step: int, loss: float, last_finite: tuple[int, float] | None, stopped_at: int, suggestions: list[str]
    ):
        self.record = {
            "diverged_at_step": step,
            "stopped_at_step": stopped_at,
            "nonfinite_loss": str(loss),
            "last_finite_step": last_finite[0] if last_finite else None,
            "last_finite_loss": last_finite[1] if last_finite else None,
            "suggestions": suggestions,
        }
        before = (
            f"last finite loss {last_finite[1]:.4g} at step {last_finite[0]}"
            if last_finite
            else "no finite loss before it"
        )
        super().__init__(f"training diverged: loss {loss} at step {step} ({before}); try {' or '.join(suggestions)}")
