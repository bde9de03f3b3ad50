"""The one exception type for bad input: its message is a single line naming the problem and the fix."""


class ConfigError(ValueError):
    pass
