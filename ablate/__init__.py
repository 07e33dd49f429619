"""ablate: re-run the design comparisons of AlexNet (Krizhevsky, Sutskever & Hinton, 2012) and see which hold.

Library API (no Hydra needed): `ablate.train(ablate.Config(...)) -> summary dict`.
"""

__version__ = "0.1.0"

from ablate.config import Config, DataConfig, LoggerConfig, ModelConfig, OptimConfig, TrainerConfig  # noqa: E402
from ablate.trainer import train  # noqa: E402

__all__ = ["Config", "ModelConfig", "DataConfig", "OptimConfig", "TrainerConfig", "LoggerConfig", "train"]
