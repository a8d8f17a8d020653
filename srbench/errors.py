"""The one exception type for user mistakes.

Anything raised as :class:`UserError` is shown by the CLI as a single line
(no traceback) and exits with status 2; everything else is a bug in srbench.
"""


class UserError(Exception):
    """A mistake the user can fix: bad input file, unknown name, invalid value."""
