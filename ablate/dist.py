"""Everything that knows about ranks: torchrun's environment, spawning N workers, all-reduce, "am I rank 0".

The training loop calls `setup`, `is_main`, `all_reduce_sum` and `cleanup`; with one process they are no-ops,
so the single-process loop is the distributed loop.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as tdist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def env_from_torchrun() -> DistEnv:
    return DistEnv(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))


def requested_world_size(devices: str) -> int:
    """`trainer.devices`: a count, or `auto` (every visible GPU; 1 process on CPU)."""
    if devices == "auto":
        return max(1, torch.cuda.device_count())
    return int(devices)


def device_for(env: DistEnv, requested: str) -> torch.device:
    """This process' device: with several processes on GPUs, one GPU per local rank."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", env.local_rank % max(1, torch.cuda.device_count()))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def setup(env: DistEnv, device: torch.device) -> None:
    if env.active and not tdist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        tdist.init_process_group(backend, rank=env.rank, world_size=env.world_size)


def cleanup(env: DistEnv) -> None:
    if env.active and tdist.is_initialized():
        tdist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """All ranks leave together: a rank tearing down its gloo pairs while another still uses them can abort
    ("terminate called without an active exception", seen under a full test run). Only on a normal exit: after
    an exception the other ranks may never arrive."""
    if env.active and tdist.is_initialized():
        tdist.barrier()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (in place when distributed); a no-op in one process."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.all_reduce(values, op=tdist.ReduceOp.SUM)
    return values


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any: ranks must agree before leaving a collective loop."""
    return bool(all_reduce_sum(torch.tensor([float(flag)], device=device)).item() > 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(local_rank: int, world_size: int, fn: Callable, args: tuple) -> None:
    os.environ.update(RANK=str(local_rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world_size))
    fn(*args)


def spawn(fn: Callable, world_size: int, *args) -> None:
    """Run `fn(*args)` in `world_size` fresh processes that form one process group (single node)."""
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ["MASTER_PORT"] = str(_free_port())
    torch.multiprocessing.spawn(_worker, args=(world_size, fn, args), nprocs=world_size, join=True)
