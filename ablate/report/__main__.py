"""`python -m ablate.report`: the `ablate-report` command (ablate/report/command.py)."""

import sys

from ablate.report.command import main

if __name__ == "__main__":
    sys.exit(main())
