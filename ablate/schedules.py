"""Learning-rate schedules: a registry of specs, each stepped once per epoch (plateau-style ones with the
epoch's validation error). Every schedule scales each parameter group's own lr (ablate.optim makes the groups),
so the ratio between groups holds throughout.
"""

from __future__ import annotations

import math

import torch

from ablate.registry import NON_NEGATIVE, POSITIVE, SHARE, Option, Registry

# reads_epochs: the schedule depends on trainer.epochs (the budget), so a run cannot be extended to a longer one
SCHEDULES = Registry("optim.schedule", requires=("reads_epochs",))

PLATEAU_FACTOR = Option("plateau_factor", "lr multiplier per drop (§5: divide by 10)", SHARE)
PLATEAU_PATIENCE = Option("plateau_patience", "epochs without a new best validation error before a drop (ours)",
                          NON_NEGATIVE)
PLATEAU_MAX_DROPS = Option("plateau_max_drops", "most drops over a run (§5: reduced three times)", NON_NEGATIVE)
PLATEAU_WAIT_BELOW = Option("plateau_wait_below", "no drop until the validation top-1 error (a fraction) first falls "
                            "below this; unset (null): from the first epoch (§5 as written)", SHARE, optional=True,
                            only_where_read=True)
STEP_SIZE = Option("step_size", "epochs between lr drops", POSITIVE)
STEP_GAMMA = Option("step_gamma", "lr multiplier per drop", SHARE)
MILESTONES = Option("milestones", "epochs after which the lr drops, ascending")
COSINE_MIN_LR = Option("cosine_min_lr", "lr the cosine decays to after the last epoch", NON_NEGATIVE)


def _ascending_epochs(options: dict) -> str | None:
    """The `check` of multistep (its options → the problem, or None): drops after ascending epochs >= 1."""
    ms = list(options["milestones"])
    if ms and ms[0] >= 1 and ms == sorted(set(ms)):
        return None
    return (f"optim.milestones={ms}: optim.schedule=multistep needs ascending epochs >= 1, e.g. "
            "optim.milestones=[120,130]")


# Builders: (optimizer, epochs, base lr), then their options.
@SCHEDULES.register("constant", reads_epochs=False, summary="the base lr throughout", source="Figure 1's runs")
def _constant(optimizer, epochs: int, lr: float):
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


class GatedPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """ReduceLROnPlateau that ignores the epochs before the validation error first falls below `wait_below`.

    A net stalled at chance has not "stopped improving" (§5): it has not started. Counting those epochs as bad
    cuts the lr of a run that is about to leave chance (reports/towers_cpu). Until the error falls below
    `wait_below` (e.g. 0.85 against CIFAR-10's 0.9 chance) nothing is counted; from that epoch on this is the
    literal rule, that epoch its first best. `waiting` is in the state dict, so a resumed run keeps it.
    """

    def __init__(self, optimizer, wait_below: float | None, **kwargs):
        super().__init__(optimizer, **kwargs)
        self.wait_below = wait_below
        self.waiting = wait_below is not None

    def step(self, metrics, epoch=None):
        if self.waiting and float(metrics) >= self.wait_below:
            self.last_epoch += 1
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
            return
        self.waiting = False
        super().step(metrics, epoch)


@SCHEDULES.register("plateau", options=(PLATEAU_FACTOR, PLATEAU_PATIENCE, PLATEAU_MAX_DROPS, PLATEAU_WAIT_BELOW),
                    summary="lr × factor when the validation error stops improving, at most max_drops times",
                    source="§5", reads_epochs=False)
def _plateau(optimizer, epochs: int, lr: float, *, plateau_factor: float, plateau_patience: int,
             plateau_max_drops: int, plateau_wait_below: float | None):
    """§5: divide the lr by 10 when the validation error stops improving, at most `plateau_max_drops` times.

    "Stops improving" is literal (no tolerance): an epoch whose error is not below the best so far is a bad
    epoch, and `plateau_patience` + 1 bad epochs in a row trigger a drop. The floor min_lr = lr·factor^drops
    caps the number of drops. With `plateau_wait_below`, counting starts once the error first falls below it.
    """
    floor = [g["lr"] * plateau_factor**plateau_max_drops for g in optimizer.param_groups]
    return GatedPlateau(optimizer, plateau_wait_below, mode="min", factor=plateau_factor, patience=plateau_patience,
                        threshold=0.0, threshold_mode="abs", min_lr=floor, eps=0.0)


@SCHEDULES.register("step", options=(STEP_SIZE, STEP_GAMMA), summary="lr × gamma every step_size epochs",
                    reads_epochs=False)
def _step(optimizer, epochs: int, lr: float, *, step_size: int, step_gamma: float):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=step_gamma)


@SCHEDULES.register("multistep", options=(MILESTONES, STEP_GAMMA), check=_ascending_epochs,
                    summary="lr × gamma after each listed epoch", source="cuda-convnet's hand-made drops",
                    reads_epochs=False)
def _multistep(optimizer, epochs: int, lr: float, *, milestones: list[int], step_gamma: float):
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=step_gamma)


class GroupCosine(torch.optim.lr_scheduler.CosineAnnealingLR):
    """Cosine annealing in closed form, each group from its own lr to its own floor.

    torch's version sends every group to the same `eta_min`; here a group's floor is `cosine_min_lr` times the
    group's lr multiplier (its base lr / optim.lr), so biases stay at bias_lr_mult × the weights' lr.
    """

    def __init__(self, optimizer, epochs: int, min_lr: float, lr: float):
        self.floor_ratio = min_lr / lr  # set before super().__init__, whose first step() reads it
        super().__init__(optimizer, T_max=epochs, eta_min=min_lr)

    def get_lr(self):
        return self._get_closed_form_lr()

    def _get_closed_form_lr(self):
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [base * (self.floor_ratio + (1 - self.floor_ratio) * c) for base in self.base_lrs]


@SCHEDULES.register("cosine", options=(COSINE_MIN_LR,), summary="cosine from the base lr to cosine_min_lr",
                    source="Loshchilov & Hutter 2017", reads_epochs=True)
def _cosine(optimizer, epochs: int, lr: float, *, cosine_min_lr: float):
    return GroupCosine(optimizer, epochs, cosine_min_lr, lr)


def build_schedule(optimizer: torch.optim.Optimizer, cfg, epochs: int):
    """A scheduler stepped once per epoch with the epoch's validation error (`step(metric)` or `step()`)."""
    return SCHEDULES.build_from(cfg.schedule, cfg, optimizer, epochs, cfg.lr)


def step_schedule(scheduler, val_err: float) -> None:
    """Advance the schedule one epoch; plateau-style schedules read the epoch's validation error."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_err)
    else:
        scheduler.step()
