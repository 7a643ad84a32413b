"""Errors a user can fix: the CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input: the message says what is wrong, where, and what to do."""


class ModelError(UserError):
    """The model file cannot be read or uses something the converter does not support."""


class FitError(UserError):
    """The model does not fit the chosen target."""
