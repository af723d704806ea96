"""``python -m gridapp``."""

from __future__ import annotations

import sys

from gridapp.cli import main

if __name__ == "__main__":
    sys.exit(main())
