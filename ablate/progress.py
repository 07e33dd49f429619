"""Progress display: a tqdm bar (loss-free, img/s and ETA) on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    def __init__(self, mode: str, epochs: int, steps_per_epoch: int, label: str):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "line"
        self.mode, self.epochs, self.steps, self.label = mode, epochs, steps_per_epoch, label
        self.bar: tqdm | None = None
        self.epoch = 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.mode == "bar":
            self.bar = tqdm(total=self.steps, desc=f"epoch {epoch}/{self.epochs}", unit="step",
                            leave=False, dynamic_ncols=True)
            self.images = 0

    def step(self, images: int) -> None:
        if self.bar is not None:
            self.images += images
            self.bar.update(1)
            elapsed = self.bar.format_dict["elapsed"]
            if elapsed > 0:
                self.bar.set_postfix_str(f"{self.images / elapsed:,.0f} img/s", refresh=False)

    def end_epoch(self, row: dict) -> None:
        self.close()
        if self.mode != "none":
            print(f"[{self.label}] epoch {row['epoch']}/{self.epochs} train_loss {row['train_loss']:.4f} "
                  f"train_err {row['train_err']:.4f} val_top1_err {row['val_top1_err']:.4f} "
                  f"val_top5_err {row['val_top5_err']:.4f} {row['images_per_s']:,.0f} img/s "
                  f"({row['epoch_s']:.1f}s)", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
