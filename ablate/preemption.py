"""Preemption signals during training: SIGTERM, SIGUSR1 and $SUBMITIT_PREEMPT_SIGNAL (SLURM's warning through
submitit) only record their name; the trainer checkpoints at the next step boundary and ends the run as
`preempted`, and the CLI then raises the signal again so that it does what it was sent for."""

from __future__ import annotations

import os
import signal
import threading


class Preemption:
    """`with Preemption() as p:` the signals' handlers are ours (main thread only); `p.signal` names one received."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._previous: dict = {}

    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            names = {signal.SIGTERM, signal.SIGUSR1}
            if os.environ.get("SUBMITIT_PREEMPT_SIGNAL"):
                names.add(getattr(signal, "SIG" + os.environ["SUBMITIT_PREEMPT_SIGNAL"].removeprefix("SIG")))
            self._previous = {s: signal.signal(s, self._on_signal) for s in names}
        return self

    def _on_signal(self, signum, frame) -> None:  # only a flag: the checkpoint is written at a step boundary
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
