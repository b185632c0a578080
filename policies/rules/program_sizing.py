"""The program's sizing module (``components/sizing.py``), imported here and nowhere else in the pack.

The memory table and RDS formulas are shared with the program instead of copied, so they cannot
drift.  The pack's ``__main__.py`` puts the repository root on ``sys.path``; a pack published alone
has ``components/sizing.py`` copied next to its ``__main__.py``.
"""

from __future__ import annotations

import importlib

try:
    from components import sizing
except ModuleNotFoundError:  # a pack published alone: components/sizing.py copied next to __main__.py
    sizing = importlib.import_module("sizing")

__all__ = ["sizing"]
