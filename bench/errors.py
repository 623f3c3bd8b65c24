"""The one exception type for mistakes a user can fix (bad option, missing data).

``python -m bench`` prints it as a single ``error: ...`` line and exits with status 2;
everything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input or environment, reported in one line."""
