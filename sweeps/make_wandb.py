"""`python sweeps/make_wandb.py`: the command these docs used to give for sweeps/wandb/; it now runs
`python -m ablate.generated`, which writes the wandb sweep files with every other file made from the specs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's ablate

from ablate.generated import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
