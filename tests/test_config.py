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
]


@pytest.mark.parametrize(("text", "message"), CASES)
def test_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "envctl.yaml"
    path.write_text(text)
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
