"""ablate: re-run the design comparisons of AlexNet (Krizhevsky, Sutskever & Hinton, 2012) and see which hold.

Library API (no Hydra needed): `ablate.train(ablate.Config(...)) -> summary dict`, and
`ablate.load_runs(path or paths) -> pandas.DataFrame` (run folders, searched at any depth, or a report's
runs.csv → the tidy table reports are made from: one row per run per epoch).
"""

__version__ = "0.1.0"  # the one version: pyproject.toml reads it, summary.json and `ablate-train --version` show it

from ablate.config import Config, DataConfig, LoggerConfig, ModelConfig, OptimConfig, TrainerConfig  # noqa: E402

__all__ = ["Config", "ModelConfig", "DataConfig", "OptimConfig", "TrainerConfig", "LoggerConfig", "train",
           "load_runs"]


def __getattr__(name: str):
    # Imported on use: reports and notebooks never pay for torch, training never for pandas/matplotlib.
    if name == "train":
        from ablate.trainer import train
        return train
    if name == "load_runs":
        from ablate.report.inputs import load
        return load
    raise AttributeError(f"module 'ablate' has no attribute {name!r}")
