"""LRN forward + backward: ablate's TowerLRN against torch's LocalResponseNorm, at the shapes our nets use.

Both compute the same function (tests/test_models.py checks values and gradients); this measures what each
costs. torch's layer is applied per tower and concatenated, as TowerLRN did before it had its own kernel.

    python bench/lrn.py                      # CPU, 1 thread, writes reports/bench/DATE-lrn-cpu-HOST.md
    python bench/lrn.py --device cuda        # on a GPU (bf16 there)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's ablate, not an installed one

import torch  # noqa: E402
from common import REPO, Stat, machine_lines, machine_name, table, time_fwd_bwd, today  # noqa: E402
from torch import nn  # noqa: E402

from ablate.models.lrn import TowerLRN  # noqa: E402

# (label, batch, channels, side, towers): where LRN sits in convnet4 (norm=lrn), convlocal and paper AlexNet.
SHAPES = [("convnet4 conv1", 128, 32, 32, 1), ("convnet4 conv2", 128, 32, 16, 1),
          ("convlocal conv1", 128, 64, 32, 1), ("AlexNet conv1 (two towers)", 32, 96, 55, 2),
          ("AlexNet conv2 (two towers)", 32, 256, 27, 2)]


def torch_lrn(size: int, alpha: float, beta: float, k: float, towers: int):
    layer = nn.LocalResponseNorm(size, alpha, beta, k)
    return lambda x: torch.cat([layer(t) for t in x.chunk(towers, 1)], 1)


def measure(args) -> list[dict]:
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    rows = []
    for label, batch, channels, side, towers in SHAPES:
        batch = 2 if args.quick else batch
        x = (torch.randn(batch, channels, side, side, device=args.device) * 3).to(dtype).requires_grad_()
        grad = torch.randn_like(x)
        ours = time_fwd_bwd(TowerLRN(5, 1e-4, 0.75, 2.0, towers), x, grad, args.repeats, args.iters)
        ref = time_fwd_bwd(torch_lrn(5, 1e-4, 0.75, 2.0, towers), x, grad, args.repeats, args.iters)
        rows.append({"shape": label, "input": [batch, channels, side, side], "towers": towers,
                     "torch_ms": ref.to_dict(), "ablate_ms": ours.to_dict(), "speedup": ref.median / ours.median})
        print(f"{label}: torch {ref.fmt(2)} ms, ablate {ours.fmt(2)} ms", flush=True)
    return rows


def report(rows: list[dict], args) -> str:
    body = [[r["shape"], "×".join(map(str, r["input"])), Stat(r["torch_ms"]["values"]).fmt(2),
             Stat(r["ablate_ms"]["values"]).fmt(2), f"**{r['speedup']:.1f}×**"] for r in rows]
    return "\n".join([f"# LRN forward + backward, {args.device} ({today()})", "",
                      *machine_lines(torch.get_num_threads()),
                      f"- {args.repeats} timings of {args.iters} calls each after a warm-up; size 5, α 1e-4, "
                      f"β 0.75, k 2; {'bf16' if args.device == 'cuda' else 'fp32'}", "",
                      *table(["where", "input (N×C×H×W)", "torch LocalResponseNorm, ms (median, min–max)",
                              "ablate TowerLRN, ms", "speed-up"], body), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads on CPU")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3, help="calls per timing")
    parser.add_argument("--quick", action="store_true", help="batch 2, for tests")
    parser.add_argument("--out", type=Path, help="report path (default reports/bench/DATE-lrn-DEVICE-HOST.md)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible; run it on a GPU machine or use --device cpu")
    torch.set_num_threads(args.threads)
    out = args.out or REPO / "reports" / "bench" / f"{today()}-lrn-{args.device}-{machine_name()}.md"
    rows = measure(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(rows, args))
    out.with_suffix(".json").write_text(json.dumps({"device": args.device, "quick": args.quick, "rows": rows},
                                                   indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
