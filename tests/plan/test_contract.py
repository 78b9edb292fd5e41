"""The plan JSON contract (README "Plan JSON"), pinned by a golden file.

The golden file also pins the fingerprints themselves: a change to what is hashed changes every
image tag (and rebuilds every image), so it must be deliberate. Regenerate with
``ENVCTL_UPDATE_GOLDEN=1 pytest tests/plan/test_contract.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from envctl.plan import Plan, ServicePlan, dependency_build_args

GOLDEN = Path(__file__).with_name("golden") / "plan.json"


def test_plan_json_matches_golden(monorepo: Path, plan_json) -> None:
    (monorepo / "libs/common/db.py").write_text("DB = 'mysql'\n")
    plan = plan_json(monorepo, "--base", "v1", "--changed-only")
    if os.environ.get("ENVCTL_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(plan, indent=2) + "\n")
    assert plan == json.loads(GOLDEN.read_text())
    # the fields the issue names as the minimum of the contract
    assert list(plan)[:2] == ["version", "base"]
    for item in plan["services"]:
        assert {"name", "image", "fingerprint", "action", "reason", "changed", "changed_inputs"} <= set(item)


def test_dependency_build_args_point_at_the_dependency_ref() -> None:
    def service(name: str, fingerprint: str, deps: dict[str, str]) -> ServicePlan:
        return ServicePlan(
            name=name, image=f"demo/{name}", tag=f"fp-{fingerprint[:16]}", fingerprint=fingerprint, action="build",
            reason="", changed=True, changed_inputs=(), depends_on=tuple(deps.values()), dockerfile="D",
            context="", build_args={}, target=None, dependency_args=deps,
        )

    base = service("base", "a" * 64, {})
    api = service("api", "b" * 64, {"BASE_REF": "base"})
    plan = Plan(base=None, services=(base, api), images=(), chart_changed=False, needs_cluster=True)
    assert dependency_build_args(api, plan) == {"BASE_REF": "demo/base:fp-aaaaaaaaaaaaaaaa"}
    assert dependency_build_args(base, plan) == {}
    assert api.ref == "demo/api:fp-bbbbbbbbbbbbbbbb"
