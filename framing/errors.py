"""The one root of every error a user can cause, so that the command line, the web page and a
notebook can catch them all with one `except FramingError` and show the message as it is: one
line, in the words of the data (file, line, field), never the name of a command-line flag.

This module imports nothing from the rest of the package, so every layer can use it.
"""

from __future__ import annotations


class FramingError(ValueError):
    """Unusable input, model folder, config or corpus; `str(error)` is one line for the user."""
