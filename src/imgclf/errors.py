"""The base error of imgclf: every expected failure (bad input, missing weights...) derives from it.

The CLI prints these as one clear line and exits 2; anything else is a bug: the CLI prints one line and exits 3
(``imgclf --verbose`` shows its traceback).
"""

__all__ = ["ImgclfError"]


class ImgclfError(Exception):
    """An expected failure whose message says what went wrong and what to do."""
