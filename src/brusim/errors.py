"""Exceptions for problems a user can fix (bad input, missing files, typos).

The CLI prints these as one line and exits with code 2, without a traceback.
"""


class BrusimError(Exception):
    """A user-facing error: the message names the problem and the fix."""


class MapError(BrusimError):
    """The street map cannot be loaded, compiled or used."""


class ConfigError(BrusimError):
    """A configuration value is invalid. May carry several problems at once."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))
