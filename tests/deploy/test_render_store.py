"""The kept renders in the workspace's facts cache (toolbox._RenderStore): bounded, and a bad file is a miss."""

from __future__ import annotations

from pathlib import Path

from envctl.facts_cache import FactsCache
from envctl.toolbox import _RenderStore


def test_the_last_four_renders_are_kept_across_runs(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    store = _RenderStore(FactsCache(folder))
    for n in range(6):
        store.put(f"key{n}", f"manifest {n}")
    again = _RenderStore(FactsCache(folder))  # the next run
    assert [again.get(f"key{n}") for n in range(6)] == [None, None, "manifest 2", "manifest 3", "manifest 4", "manifest 5"]
    again.put("key2", "manifest 2")  # used again: kept longest
    again.put("key6", "manifest 6")
    assert again.get("key2") == "manifest 2" and again.get("key3") is None
    assert [p.name for p in folder.iterdir()] == ["helm-templates.json"]


def test_a_corrupt_or_foreign_entry_is_a_miss(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    store = _RenderStore(FactsCache(folder))
    for text in ("{", '{"key": "renders", "value": {"entries": [["k", "m"], {"key": 1}]}}', "[]"):
        (folder / "helm-templates.json").write_text(text)
        assert store.get("k") is None
    store.put("k", "m")
    assert store.get("k") == "m"
