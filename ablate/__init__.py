"""ablate: re-run the design comparisons of AlexNet (Krizhevsky, Sutskever & Hinton, 2012) and see which hold.

Library API (no Hydra needed): `ablate.train(ablate.Config(...)) -> summary dict`, and
`ablate.load_runs(paths) -> pandas.DataFrame` (run folders → the tidy table reports are made from).
"""

__version__ = "0.1.0"

from ablate.config import Config, DataConfig, LoggerConfig, ModelConfig, OptimConfig, TrainerConfig  # noqa: E402
from ablate.trainer import train  # noqa: E402

__all__ = ["Config", "ModelConfig", "DataConfig", "OptimConfig", "TrainerConfig", "LoggerConfig", "train",
           "load_runs"]


def __getattr__(name: str):
    if name == "load_runs":  # imported on use: training never pays for pandas/matplotlib
        from ablate.report.collect import collect
        return collect
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")
