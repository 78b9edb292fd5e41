"""One kind's list and watch (wait_watch.py) against the emulated API over real HTTP: a bookmark
moves where the next watch resumes and is no change, and ``stop()`` ends a blocked read."""

from __future__ import annotations

import queue
from typing import Any

import kmock

from envctl.phases.wait_watch import READ_TIMEOUT, ResourceWatcher
from envctl.workloads.rules import release_selector
from envctl.workloads.view import Listed
from tests.support.gate import wait_until
from tests.support.kube_api import KubeApi
from tests.support.kubelet import Kubelet


def test_a_bookmark_moves_the_resume_point_and_stop_ends_the_blocked_watch(
    kube_api: KubeApi, kubelet: Kubelet, api_client: Any
) -> None:
    bookmark = {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "4242"}}}

    async def first_watch_sends_a_bookmark() -> None:
        kube_api.emulator["watch v1/pods", kmock.namespace(kubelet.namespace)][:1] << (bookmark,)

    kube_api.run(first_watch_sends_a_bookmark())
    out: queue.Queue[Any] = queue.Queue()
    watcher = ResourceWatcher(api_client, "Pod", kubelet.namespace, release_selector("demo"), out)
    watcher.start()
    try:
        # The emulator counts the watches it serves itself: not the first, which the reaction answered.
        wait_until(lambda: kube_api.emulator.watches.get("pods", 0) >= 1, "a second watch of pods")
    finally:
        watcher.stop()
    # The second watch blocks on a silent stream: stop() shuts it, long before the read timeout.
    watcher.join(READ_TIMEOUT / 3)
    assert not watcher._thread.is_alive()

    watches = [str(r.url) for r in kube_api.emulator if r.method == "GET" and "watch=true" in str(r.url)]
    assert "resourceVersion=4242" not in watches[0] and "resourceVersion=4242" in watches[1], watches
    messages = []
    while not out.empty():
        messages.append(out.get_nowait())
    assert [type(m) for m in messages] == [Listed]  # the bookmark changed nothing
