"""Every helm command line envctl emits parses under helm v3.17.3's table (tests/standins/helm_table.py),
and the table rejects what helm rejects.

The adapter drives the helm stand-in, which logs every argv it is given (FAKE_HELM_LOG); each one is
then parsed again here under the table, so a flag helm 3.17.3 does not have, a value of the wrong
kind or a wrong number of arguments fails this test before it would fail on a real helm.
"""

from __future__ import annotations

import pytest

from envctl.adapters.helm import lint, run_sync
from envctl.adapters.process import SubprocessRunner
from envctl.adapters.versions import helm_version
from envctl.progress import CollectingProgress
from tests.deploy.conftest import DEMO_CHART, FakeHelm
from tests.standins import helm_table as table

VALUES = {"api": {"image": {"repository": "envctl-demo/api", "tag": "t1"}}}


def test_every_command_line_envctl_sends_parses_under_the_table(fake_helm: FakeHelm) -> None:
    import os

    runner = SubprocessRunner(dict(os.environ))
    helm = fake_helm.helm(CollectingProgress())
    helm_version(runner)
    lint(runner, DEMO_CHART, (DEMO_CHART / "values.yaml",))
    run_sync(helm.current("demo", "ci"))
    run_sync(helm.template("demo", DEMO_CHART, VALUES, namespace="ci"))
    run_sync(helm.template("demo", DEMO_CHART, VALUES, namespace="ci", post_render="[]"))
    run_sync(helm.install_or_upgrade("demo", DEMO_CHART, VALUES, namespace="ci", description="one"))
    run_sync(helm.install_or_upgrade("demo", DEMO_CHART, VALUES, namespace="ci", description="two", post_render="[]"))
    run_sync(helm.values("demo", "ci", 1))
    run_sync(helm.manifest("demo", "ci", 2))
    run_sync(helm.recover("demo", "ci"))
    run_sync(helm.uninstall("demo", "ci"))

    parsed = [table.parse(argv) for argv in fake_helm.argvs()]

    assert [p.command for p in parsed] == [
        ("version",),  # envctl's probe
        ("lint",), ("status",), ("template",),
        ("version",),  # pyhelm3's, as the adapter first needs its client (the post-renderer's helm 3 check)
        ("template",), ("show", "chart"), ("upgrade",), ("upgrade",),
        ("get", "values"), ("get", "manifest"), ("status",), ("status",), ("uninstall",),
    ]  # fmt: skip
    upgrades = [p for p in parsed if p.command == ("upgrade",)]
    assert all(p.one("timeout") == "300s" and p.one("output") == "json" and "install" in p.flags for p in upgrades)
    assert upgrades[1].values["post-renderer-args"] == ["-m", "envctl.postrender", "[]"]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["upgrade", "demo", "/c", "--disable-validation"], "unknown flag: --disable-validation"),
        (["upgrade", "demo"], '"helm upgrade" requires 2 arguments\n\nUsage:  helm upgrade [RELEASE] [CHART] [flags]'),
        (["upgrade", "demo", "/c", "--timeout", "300"], 'time: missing unit in duration "300"'),
        (["status", "demo", "--revision", "two"], 'invalid argument "two" for "--revision" flag'),
        (["status", "demo", "-o", "xml"], "invalid format type"),
        (["status", "demo", "-x"], "unknown shorthand flag: 'x' in -x"),
        (["get", "values"], '"helm get values" requires 1 argument'),
        (["get", "notes", "demo"], 'unknown command "notes" for "helm get"'),
        (["template"], '"helm template" requires at least 1 argument'),
        (["template", "a", "b", "c"], "expected at most two arguments, unexpected arguments: c"),
        (["list", "extra"], '"helm list" accepts no arguments'),
        (["upgrade", "demo", "/c", "--values"], "flag needs an argument: --values"),
        (["diff", "upgrade"], 'unknown command "diff" for "helm"'),
    ],
)
def test_the_table_rejects_what_helm_rejects(argv: list[str], error: str) -> None:
    with pytest.raises(table.UsageError) as caught:
        table.parse(argv)
    assert error in str(caught.value)


def test_the_table_accepts_what_helm_accepts() -> None:
    parsed = table.parse(["upgrade", "r", "/c", "-i", "-f", "a.yaml,b.yaml", "--set", "a=1", "--set", "b=2",
                          "--dry-run", "--post-renderer=/bin/cat", "--post-renderer-args", "-x", "-n", "ns"])  # fmt: skip
    assert parsed.values == {"values": ["a.yaml,b.yaml"], "set": ["a=1", "b=2"], "dry-run": ["client"],
                             "post-renderer": ["/bin/cat"], "post-renderer-args": ["-x"], "namespace": ["ns"]}  # fmt: skip
    assert parsed.flags == {"install"}
    assert table.parse(["template", "/c"]).positional == ["/c"]  # the release name defaults
    assert table.parse(["uninstall", "a", "b", "--wait=false"]).flags == set()


def test_every_row_names_its_source_at_the_pinned_tag() -> None:
    assert table.VERSION == "v3.17.3"
    assert all(command.source.startswith("helm/helm@v3.17.3:cmd/helm/") for command in table.COMMANDS.values())
