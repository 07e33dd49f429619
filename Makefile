# Two commands: `make demo` and `make test`. Each creates .venv if missing and installs ablate (editable, with
# its dev extra) once; re-running skips the install until pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ablate-installed

.PHONY: install test demo lint generate clean-runs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: install
	WANDB_MODE=disabled $(BIN)/python -m pytest

# Figure 1 in miniature: ReLU vs tanh on the embedded CIFAR-10 subset, then the report into reports/demo/.
# Completed runs are skipped, so a second `make demo` only redraws the report.
demo: install
	WANDB_MODE=disabled $(BIN)/ablate-train -m +experiment=fig1_demo
	$(BIN)/ablate-report runs/fig1_demo --out reports/demo

# The text that follows from the axes' specs: README/docs tables, --help, every-value sweeps, wandb sweep files.
generate: install
	$(BIN)/python -m ablate.generated

lint: install
	$(BIN)/ruff check ablate tests bench sweeps

clean-runs:
	rm -rf runs
