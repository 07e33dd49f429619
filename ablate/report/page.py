"""The report page: DIR/index.md (figures beside it) and a self-contained DIR/index.html (figures embedded).

Both are rendered from one list of blocks, so they always say the same thing.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ablate.report.figures import Figure
from ablate.report.render import Table

CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.4}"
       "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border-bottom:1px solid #ccc;"
       "padding:.2em .6em;text-align:left}th{border-bottom:2px solid #333}tr.ref td{color:#555;"
       "font-style:italic}.note{font-size:.85em;color:#444}img{max-width:100%}figure{margin:1em 0}"
       "figcaption{font-weight:600}code,pre{background:#f4f4f4;padding:.2em .4em}")


@dataclass
class Block:
    kind: str  # h1, h2, p, code, list, table, figure
    content: object


def provenance(per_run: pd.DataFrame, command: str) -> list[Block]:
    """The command, when it ran, how many runs in which status, and which code and dates they come from."""
    counts = per_run["status"].value_counts()
    later = per_run.get("git_resumed", pd.Series(None, index=per_run.index)).map(
        lambda chain: "".join(f" then {s[:12]}" for s in str(chain).split(" then ")) if isinstance(chain, str) else "")
    shas = per_run.assign(sha=per_run["git_sha"].fillna("unknown").astype(str).str[:12] + later,
                          dirty=per_run["git_dirty"].map({True: "yes", False: "no"}).fillna("unknown"))
    git_rows = [[sha, dirty, len(g)] for (sha, dirty), g in shas.groupby(["sha", "dirty"])]
    starts = per_run["start_time"].dropna().astype(str)
    ends = per_run["end_time"].dropna().astype(str)
    versions = sorted({f"ablate {_known(a)}, torch {_known(t)}" for a, t in zip(
        per_run["ablate_version"], per_run["torch_version"], strict=True)})
    machines = per_run.get("machine", pd.Series(None, index=per_run.index)).map(_known).value_counts()
    machines_text = "machines: " + "; ".join(f"{m} ({n} runs)" for m, n in machines.items())
    if len(machines) > 1:
        machines_text += " (one seed gives other bits on another processor model: seeds are comparable, not equal)"
    return [Block("h2", "Provenance"),
            Block("p", "Made by:"), Block("code", command),
            Block("list", [f"generated {datetime.now(UTC).isoformat(timespec='seconds')}",
                           f"{len(per_run)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()),
                           f"run dates: {min(starts, default='?')} to {max(ends, default='?')}",
                           "code versions: " + "; ".join(versions), machines_text]),
            Block("table", Table("git", "Git commits of the runs", ["SHA", "dirty", "runs"], git_rows)),
            *wandb_links(per_run)]


def wandb_links(per_run: pd.DataFrame, most: int = 50) -> list[Block]:
    """Links to the runs' wandb mirrors, as recorded in their run folders (the report never reads wandb)."""
    if "wandb_url" not in per_run:
        return []
    linked = per_run.dropna(subset=["wandb_url"])
    if linked.empty:
        return []
    head = f"Mirrored to wandb: {len(linked)} of {len(per_run)} runs"
    if len(linked) > most:
        return [Block("p", f"{head}; each run's link is in runs_summary.csv (column wandb_url).")]
    return [Block("p", f"{head}:"), Block("list", [f"{r['run']}: {r['wandb_url']}" for _, r in linked.iterrows()])]


def _known(value) -> str:
    return "unknown (not recorded)" if value is None or value != value else str(value)


def problem_runs(per_run: pd.DataFrame) -> list[Block]:
    """Every run left out of the statistics, and every run whose record needed repairs, each with why."""
    problems = per_run.get("problems", pd.Series("", index=per_run.index)).fillna("").astype(str)
    bad = per_run[(per_run["status"] != "completed") | per_run["epochs_logged"].eq(0) | problems.ne("")]
    if bad.empty:
        return [Block("p", "All runs completed, each with a clean record.")]
    items = []
    for i, r in bad.iterrows():
        step = r.get("diverged_step")
        step = int(step) if isinstance(step, int | float) and step == step else step
        detail = {"diverged": f", diverged at step {step}",
                  "failed": f", error: {r.get('error')}"}.get(r["status"], "")
        note = f"; {problems[i]}" if problems[i] else ""
        items.append(f"{r['run']}: {r['status']}{detail}, {int(r['epochs_logged'])} epoch(s) logged{note}")
    return [Block("p", "Runs with a problem (those not completed, or flagged, are left out of means and Δ; the "
                       "status table counts them):"), Block("list", items)]


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2"):
            out.append(("# " if b.kind == "h1" else "## ") + str(b.content))
        elif b.kind == "p":
            out.append(str(b.content))
        elif b.kind == "code":
            out.append(f"```\n{b.content}\n```")
        elif b.kind == "list":
            out.append("\n".join(f"- {item}" for item in b.content))
        elif b.kind == "table":
            out.append(b.content.markdown())
        elif b.kind == "figure":
            fig: Figure = b.content
            png = next((p for p in fig.files if p.suffix == ".png"), None)
            links = ", ".join(f"[{p.suffix[1:]}]({p.name})" for p in fig.files)
            out.append((f"![{fig.stem}]({png.name})\n\n" if png else "") + f"*{fig.caption}* {links}".rstrip())
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[Block], title: str) -> str:
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2"):
            out.append(f"<{b.kind}>{html.escape(str(b.content))}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{html.escape(str(b.content))}</p>")
        elif b.kind == "code":
            out.append(f"<pre><code>{html.escape(str(b.content))}</code></pre>")
        elif b.kind == "list":
            out.append("<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in b.content) + "</ul>")
        elif b.kind == "table":
            out.append(b.content.html())
        elif b.kind == "figure":
            fig: Figure = b.content
            data = base64.b64encode(fig.png).decode("ascii")
            out.append(f"<figure><img alt=\"{html.escape(fig.stem)}\" src=\"data:image/png;base64,{data}\">"
                       f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def write_page(blocks: list[Block], out: Path, formats: tuple[str, ...], title: str) -> list[Path]:
    written = []
    if "md" in formats:
        (out / "index.md").write_text(to_markdown(blocks))
        written.append(out / "index.md")
    if "html" in formats:
        (out / "index.html").write_text(to_html(blocks, title))
        written.append(out / "index.html")
    return written
