"""Progress: a tqdm bar labelled with the run (img/s and ETA) on a terminal; otherwise (`line`) a log line every
`every_s` seconds within an epoch, since an ImageNet epoch lasts hours; `none`: neither. Each finished epoch is
logged in every mode: it is the run's story, so it goes to the log (Hydra's job log file too), not to print.
"""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

from ablate.logs import eta

log = logging.getLogger(__name__)
EVERY_S = 30.0  # within-epoch lines in line mode: often enough to see a job is alive, rare enough to read


class Progress:
    def __init__(self, mode: str, epochs: int, steps_per_epoch: int, label: str, every_s: float = EVERY_S):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "line"
        self.mode, self.epochs, self.steps, self.label, self.every_s = mode, epochs, steps_per_epoch, label, every_s
        self.bar: tqdm | None = None
        self.epoch = 0

    def start_epoch(self, epoch: int, done: int = 0) -> None:
        """`done`: steps of this epoch already run (a resumed epoch)."""
        self.epoch = epoch
        self.done = done  # steps of the epoch run so far
        self.first = done  # the step this launch started the epoch at
        self.images = 0
        self.t0 = self.last = time.perf_counter()
        if self.mode == "bar":
            name = self.label if len(self.label) <= 40 else self.label[:39] + "…"
            self.bar = tqdm(total=self.steps, initial=done, desc=f"{name} epoch {epoch}/{self.epochs}",
                            unit="step", leave=False, dynamic_ncols=True)

    def step(self, images: int) -> None:
        self.done += 1
        self.images += images
        now = time.perf_counter()
        rate = self.images / max(now - self.t0, 1e-9)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{rate:,.0f} img/s", refresh=False)
        elif self.mode == "line" and now - self.last >= self.every_s:
            self.last = now
            left = (self.steps - self.done) * (now - self.t0) / max(self.done - self.first, 1)
            log.info("[%s] epoch %d/%d step %d/%d (%.0f%%) %s img/s, epoch ETA %s", self.label, self.epoch,
                     self.epochs, self.done, self.steps, 100 * self.done / max(self.steps, 1), f"{rate:,.0f}",
                     eta(left))

    def end_epoch(self, row: dict) -> None:
        self.close()
        log.info("[%s] epoch %d/%d train_loss %.4f train_err %.4f val_top1_err %.4f val_top5_err %.4f %s img/s "
                 "(%.1fs)", self.label, row["epoch"], self.epochs, row["train_loss"], row["train_err"],
                 row["val_top1_err"], row["val_top5_err"], f"{row['images_per_s']:,.0f}", row["epoch_s"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
