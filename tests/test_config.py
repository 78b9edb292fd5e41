"""envctl.yaml validation: every error names the file, the key path, the bad value and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.config import load_config
from envctl.errors import ConfigError, ExitCode

SERVICE = "services:\n  api:\n    dockerfile: d/Dockerfile\n    image: demo/api\n"

CASES = [
    pytest.param("version: 1\nservices: [\n", "line 3 column 1: malformed YAML", id="malformed"),
    pytest.param("- 1\n", "expected a mapping at the top level, got list", id="not-a-mapping"),
    pytest.param(SERVICE, "missing key 'version'", id="no-version"),
    pytest.param("version: 2\n", "version = 2: Input should be 1", id="wrong-version"),
    pytest.param("version: 1\nclustr: {}\n", "clustr: unknown key", id="unknown-top-key"),
    pytest.param("version: 1\n" + SERVICE + "    colour: red\n", "services.api.colour: unknown key",
                 id="unknown-service-key"),
    pytest.param("version: 1\nservices:\n  api:\n    image: demo/api\n", "services.api.dockerfile: Field required",
                 id="missing-dockerfile-key"),
    pytest.param("version: 1\n" + SERVICE.replace("demo/api", "demo/api:v1"),
                 "services.api.image = 'demo/api:v1': Value error, must be a repository without a tag",
                 id="image-with-tag"),
    pytest.param("version: 1\nservices:\n  Bad_Name:\n    dockerfile: D\n    image: x\n",
                 "services.Bad_Name.[key] = 'Bad_Name'", id="bad-service-name"),
    pytest.param("version: 1\nrelease: {timeout: soon}\n", "release.timeout = 'soon'", id="bad-duration"),
    pytest.param("version: 1\n" + SERVICE + "  web:\n    dockerfile: w/Dockerfile\n    image: demo/api\n",
                 "services 'api' and 'web' both use image 'demo/api'", id="duplicate-image"),
    # Hostile or broken YAML: refused with the line, never a traceback or a hang.
    pytest.param(b"version: 1\n# caf\xe9\n", "line 2: not UTF-8 text (byte 0xe9 at offset 16)", id="not-utf8"),
    pytest.param("version: 1\nrelease:\n  name: a\n  name: b\n",
                 "line 4 column 3: refused YAML: key 'name' appears twice (first on line 3)", id="duplicate-key"),
    pytest.param("version: 1\nversion: 1\n", "key 'version' appears twice", id="duplicate-top-key"),
    pytest.param("version: 1\nrelease:\n  set: {a: " + "[" * 20_000 + "]" * 20_000 + "}\n",
                 "line 3 column 73: refused YAML: nesting deeper than 64 levels", id="deep-nesting"),
    pytest.param("version: 1\nrelease:\n  set:\n"
                 + "".join(f"    {chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}" if i else '"x"'] * 9)
                           + "]\n" for i in range(8)),
                 "aliases expand to more than 100,000 values", id="alias-bomb"),
    pytest.param("version: 1\nx: \x07\n", "offset 14: malformed YAML: character U+0007 is not allowed",
                 id="control-character"),
    # Image names are Docker references, checked when the file is read.
    pytest.param("version: 1\n" + SERVICE.replace("demo/api", "'demo api'"),
                 "services.api.image = 'demo api': Value error, contains white space", id="image-with-space"),
    pytest.param("version: 1\n" + SERVICE.replace("demo/api", "demo/API"),
                 "services.api.image = 'demo/API': Value error, must be lower case", id="image-upper-case"),
    pytest.param("version: 1\n" + SERVICE.replace("demo/api", "demo//api"),
                 "is not a Docker repository name", id="image-empty-component"),
    pytest.param("version: 1\n" + SERVICE.replace("demo/api", "bad_host.example:x/api"),
                 "registry 'bad_host.example:x' is not a host[:port]", id="image-bad-registry"),
    pytest.param("version: 1\nimages: ['postgres:16 alpine']\n", "images = ['postgres:16 alpine']: Value error, tag '16 alpine' is not valid",
                 id="third-party-bad-tag"),
    pytest.param("version: 1\ncluster: {image: 'rancher/k3s:'}\n", "tag '' is not valid", id="cluster-image-empty-tag"),
    # Build args and secrets.
    pytest.param("version: 1\n" + SERVICE + "    build_args: {'A-B': x}\n",
                 "build arg 'A-B' is not a variable name", id="build-arg-name"),
    pytest.param("version: 1\n" + SERVICE + "    build_args: {DOCKER_HOST: x}\n",
                 "build arg 'DOCKER_HOST' would change how the docker client itself runs", id="build-arg-client-var"),
    pytest.param("version: 1\nrelease: {values: [../outside.yaml]}\n",
                 "release.values '../outside.yaml' leaves the workspace", id="values-outside"),
    # How the image reaches the chart.
    pytest.param("version: 1\n" + SERVICE + "    inject: values\n", "inject: values needs values_path",
                 id="inject-values-without-path"),
    pytest.param("version: 1\n" + SERVICE + "    inject: kustomize\n", "services.api.inject = 'kustomize'",
                 id="inject-unknown"),
    pytest.param("version: 1\n" + SERVICE + "    values_path: api.image\n    image_match: '*/api'\n",
                 "image_match is only read with inject: rewrite", id="image-match-with-values"),
    pytest.param("version: 1\n" + SERVICE + "    image_match: 'a b'\n", "services.api.image_match = 'a b'",
                 id="image-match-space"),
]


@pytest.mark.parametrize(("text", "message"), CASES)
def test_config_errors(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = tmp_path / "envctl.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message.startswith(f"{path}: ")
    assert message in caught.value.message
    assert "\n" not in caught.value.message
    assert caught.value.hint
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_repository_demo_config_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "envctl.yaml")
    assert config.cluster.name == "envctl-demo"
    assert (config.release.name, config.release.namespace, config.release.chart) == ("demo", "envctl-demo", "charts/demo")
    assert sorted(config.services) == ["api", "base", "migrate", "web", "worker"]
    assert {name: s.values_path for name, s in config.services.items() if s.values_path} == {
        "api": "api.image", "web": "web.image", "worker": "worker.image", "migrate": "migrate.image",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [("release.chart", "chart: charts/demo"), ("release.values", "values: [values/ci.yaml]")],
)
def test_a_symlink_out_of_the_workspace_is_refused_naming_the_link(tmp_path: Path, key: str, value: str) -> None:
    root, outside = tmp_path / "ws", tmp_path / "host"
    (root / "charts").mkdir(parents=True)
    (root / "values").mkdir()
    outside.mkdir()
    (outside / "ci.yaml").write_text("secret: 1\n")
    if key == "release.chart":
        (root / "charts" / "demo").symlink_to(outside)  # a folder link on the way
    else:
        (root / "values" / "ci.yaml").symlink_to(outside / "ci.yaml")  # the file itself
    path = root / "envctl.yaml"
    path.write_text(f"version: 1\nrelease:\n  {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    link = value.split(": ")[1].strip("[]")
    assert f"{key} '{link}' leaves the workspace through the symlink {link} → {outside}" in caught.value.message
    assert caught.value.hint


def test_links_that_stay_inside_and_registry_references_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "real.yaml").write_text("a: 1\n")
    (tmp_path / "values" / "ci.yaml").symlink_to("real.yaml")
    path = tmp_path / "envctl.yaml"
    path.write_text(
        "version: 1\nrelease: {values: [values/ci.yaml]}\n"
        + SERVICE.replace("demo/api", "127.0.0.1:5111/demo/api-v2__x.y")
        + "    build_args: {BASE_IMAGE: busybox}\n"
        + "images: ['postgres:16-alpine', 'ghcr.io/org/x@sha256:" + "a" * 64 + "']\n"
    )
    config = load_config(path)
    assert config.services["api"].image == "127.0.0.1:5111/demo/api-v2__x.y"


def test_inject_defaults_to_values_with_a_values_path_else_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "envctl.yaml"
    path.write_text(
        "version: 1\nservices:\n"
        "  api: {dockerfile: a/Dockerfile, image: demo/api, values_path: api.image}\n"
        "  ads: {dockerfile: b/Dockerfile, image: demo/ads}\n"
        "  web: {dockerfile: c/Dockerfile, image: demo/web, values_path: web.image, inject: rewrite,"
        " image_match: '*/frontend'}\n"
    )
    services = load_config(path).services
    assert [services[n].injection for n in ("api", "ads", "web")] == ["values", "rewrite", "rewrite"]
