"""`InputError`: an input the job cannot use, raised by the job, prediction and reuse, shown as one line by the CLI."""


class InputError(ValueError):
    """An input the job cannot use; the message says which and why."""
