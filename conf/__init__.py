"""ablate's Hydra configs, installed as the package `ablate.conf` (see pyproject.toml) so that a wheel carries
them: `ablate-train` reads them as `pkg://ablate.conf` (Hydra needs this file to accept a package as a config
source). `sweeps` here is a link to the repository's top-level sweeps/ folder: the `+sweeps=NAME` group."""
