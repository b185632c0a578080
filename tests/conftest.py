"""Make the project root importable when pytest is started as `.venv/bin/pytest` (not `python -m pytest`).

Without it, `tests/` (put on sys.path for top-level test modules) would make
`components` and `gate` resolve to the namespace packages tests/components
and tests/gate.  `pythonpath = ["."]` in pyproject.toml would do the same.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
