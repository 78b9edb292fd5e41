"""The benchmark's table (text) and its JSON: envctl vs dev-ci per tool and phase, measured and modelled."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from seedbench.model import TOOLS, Figures, Models, median, p90
from seedbench.monorepo import DEPLOYED, Merge, Shape

MB = 1 << 20
RATIO_FLOOR = 0.05  # seconds or MB; a ratio of two smaller figures is noise
ROW_LABEL = {
    "k3d": "k3d (cluster)",
    "Docker": "Docker (build + load)",
    "build": "  image build",
    "load": "  image load",
    "Helm": "Helm (upgrade, dev-ci: --wait)",
    "readiness": "readiness",
    "other": "other (envctl start, plan, record)",
}


@dataclass
class MergeResult:
    merge: Merge
    rebuilt: tuple[str, ...]  # what envctl built
    envctl: Figures
    devci: Figures


@dataclass
class Outcome:
    shape: Shape
    models: Models
    seed: int
    merges: list[MergeResult]
    cold_envctl: Figures
    cold_devci: Figures
    realised: dict[str, float]
    disk: dict[str, float]


def _phase(fig: Figures, name: str) -> float:
    if name in ("build", "load"):
        if "phases" in fig.detail:
            return float(fig.detail["phases"].get(name, 0.0))
        return float(fig.detail["steps"][name])
    return fig.modelled[name]


def _row(label: str, env: Sequence[float], dev: Sequence[float], *, modelled: bool, width: int = 36) -> str:
    em, ep, dm, dp = median(env), p90(env), median(dev), p90(dev)
    ratio = f"{dm / em:>7.1f}×" if em > RATIO_FLOOR and dm > RATIO_FLOOR else f"{'-':>8}"
    tail = "  modelled" if modelled else ""
    return f"{label:<{width}}{em:>8.1f}{ep:>7.1f} │{dm:>8.1f}{dp:>7.1f} │{ratio}{tail}"


def render(out: Outcome) -> str:
    s, m, r = out.shape, out.models, out.realised
    merges = out.merges
    lines = [
        (
            f"seed-shaped monorepo: 12 services ({len(DEPLOYED)} deployed), base {s.base_mb:g} MB, dependency "
            f"layers {s.deps_mb('admin'):g}–{s.deps_mb('orders'):g} MB, code {s.code_kb / 1024:g} MB per service"
        ),
        (
            f"merges: {len(merges)} (seed {out.seed}): {r['mean_rebuilt']:.2f} services rebuilt per merge (seed repo "
            f"2.4), {r['share_no_image'] * 100:.0f} % touching no image input (seed repo 41 %)"
        ),
        (
            f"models (flags, published figures): k3d create {m.k3d_create:g} s, helm upgrade {m.helm_upgrade:g} s, "
            f"pod start {m.pod_start:g} s; a line that includes one ends with `modelled`"
        ),
        "",
        f"{'per merge, seconds':<36}{'envctl':>8}{'p90':>7} │{'dev-ci':>8}{'p90':>7} │ dev-ci/envctl",
        f"{'':<36}{'median':>8}{'':>7} │{'median':>8}{'':>7} │ (medians)",
    ]
    for name in ("k3d", "Docker", "build", "load", "Helm", "readiness", "other"):
        env = [_phase(x.envctl, name) for x in merges]
        dev = [_phase(x.devci, name) for x in merges]
        modelled = name in ("k3d", "Helm", "readiness") and (
            any(name in x.envctl.modelled_tools for x in merges) or any(name in x.devci.modelled_tools for x in merges)
        )
        lines.append(_row(ROW_LABEL[name], env, dev, modelled=modelled))
    lines.append(_row("total, measured only", [x.envctl.total_measured for x in merges],
                      [x.devci.total_measured for x in merges], modelled=False))  # fmt: skip
    lines.append(_row("total", [x.envctl.total_modelled for x in merges], [x.devci.total_modelled for x in merges],
                      modelled=True))  # fmt: skip
    env_mb = [x.envctl.bytes_moved / MB for x in merges]
    dev_mb = [x.devci.bytes_moved / MB for x in merges]
    lines.append(_row("MB moved into the node", env_mb, dev_mb, modelled=False).replace("×", "× "))
    lines.append("")
    env_sum = sum(x.envctl.total_modelled for x in merges)
    dev_sum = sum(x.devci.total_modelled for x in merges)
    env_meas = sum(x.envctl.total_measured for x in merges)
    dev_meas = sum(x.devci.total_measured for x in merges)
    lines.append(
        f"all {len(merges)} merges: envctl {env_sum:.0f} s, dev-ci {dev_sum:.0f} s: {dev_sum / env_sum:.1f}× modelled "
        f"(measured only: {env_meas:.0f} s vs {dev_meas:.0f} s, {dev_meas / env_meas:.1f}×); "
        f"moved {sum(env_mb):,.0f} MB vs {sum(dev_mb):,.0f} MB"
    )
    lines += ["", f"{'cold start (fresh runner), seconds':<36}{'envctl':>8}{'dev-ci':>9}{'ratio':>8}"]
    ce, cd = out.cold_envctl, out.cold_devci
    for name in ("k3d", "Docker", "build", "load", "Helm", "readiness", "other"):
        e, d = _phase(ce, name), _phase(cd, name)
        modelled = name in ce.modelled_tools or name in cd.modelled_tools
        ratio = f"{d / e:>7.1f}×" if e > RATIO_FLOOR and d > RATIO_FLOOR else f"{'-':>8}"
        lines.append(f"{ROW_LABEL[name]:<36}{e:>8.1f}{d:>9.1f}{ratio}{'  modelled' if modelled else ''}")
    lines.append(f"{'total, measured only':<36}{ce.total_measured:>8.1f}{cd.total_measured:>9.1f}"
                 f"{cd.total_measured / ce.total_measured:>7.1f}×")  # fmt: skip
    lines.append(f"{'total':<36}{ce.total_modelled:>8.1f}{cd.total_modelled:>9.1f}"
                 f"{cd.total_modelled / ce.total_modelled:>7.1f}×  modelled")  # fmt: skip
    lines.append(f"{'MB moved into the node':<36}{ce.bytes_moved / MB:>8.0f}{cd.bytes_moved / MB:>9.0f}")
    lines += [
        "",
        f"{'merge':<7}{'kind':<9}{'rebuilt':>8}{'envctl s':>10}{'dev-ci s':>10}{'envctl MB':>11}{'dev-ci MB':>11}",
    ]
    for x in merges:
        lines.append(
            f"{x.merge.index:<7}{x.merge.kind:<9}{len(x.rebuilt):>8}{x.envctl.total_modelled:>10.1f}"
            f"{x.devci.total_modelled:>10.1f}{x.envctl.bytes_moved / MB:>11.0f}"
            f"{x.devci.bytes_moved / MB:>11.0f}  modelled"
        )
    lines += ["", NOTE]
    return "\n".join(lines)


NOTE = (
    "measured here: builds (BuildKit), docker save | ctr import into a real containerd node, envctl's own work,\n"
    "the stand-ins' k3d/helm calls and the readiness checks. modelled: a real k3d create, helm upgrade and pod\n"
    "start (max of measured and the flag). envctl per merge reuses its cluster (a persistent runner or laptop);\n"
    "dev-ci starts every merge on a fresh cluster, with this engine's layer cache warm (no registry pull charged)."
)


def payload(out: Outcome) -> dict[str, Any]:
    def fig(f: Figures) -> dict[str, Any]:
        return asdict(f)

    def stats(values: Sequence[float]) -> dict[str, float]:
        return {"median": median(values), "p90": p90(values), "sum": sum(values)}

    merges = out.merges
    per_tool = {
        pipeline: {
            name: stats([(_phase(getattr(x, pipeline), name)) for x in merges]) for name in (*TOOLS, "build", "load")
        }
        for pipeline in ("envctl", "devci")
    }
    return {
        "version": 1,
        "seed": out.seed,
        "shape": asdict(out.shape),
        "models": asdict(out.models),
        "realised": out.realised,
        "disk": out.disk,
        "per_merge": {
            pipeline: {
                "total_modelled": stats([getattr(x, pipeline).total_modelled for x in merges]),
                "total_measured": stats([getattr(x, pipeline).total_measured for x in merges]),
                "bytes_moved": stats([float(getattr(x, pipeline).bytes_moved) for x in merges]),
                "tools": per_tool[pipeline],
            }
            for pipeline in ("envctl", "devci")
        },
        "cold": {"envctl": fig(out.cold_envctl), "devci": fig(out.cold_devci)},
        "merges": [
            {
                "index": x.merge.index,
                "kind": x.merge.kind,
                "services": list(x.merge.services),
                "rebuilt": list(x.rebuilt),
                "envctl": fig(x.envctl),
                "devci": fig(x.devci),
            }
            for x in merges
        ],
        "load_average": list(os.getloadavg()),
    }
