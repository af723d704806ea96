"""Start the gridapp dashboard.

The dashboard arrives with the next issue; until then this serves a page that points to the CLI,
so that ``python app.py`` and ``gunicorn app:server`` already work.
"""

from __future__ import annotations

import argparse
import os

from gridapp.app.server import create_app

app = create_app()
server = app.server


def main() -> None:
    """Parse ``--host`` / ``--port`` (or ``PORT``) and serve."""
    parser = argparse.ArgumentParser(description="gridapp dashboard")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8050)))
    args = parser.parse_args()
    app.run(host=args.host, port=args.port, debug=False)


if __name__ == "__main__":
    main()
