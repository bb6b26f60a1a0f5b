"""Preview workers end with the media process that started them.

A media process that is killed (SIGKILL, an out-of-memory kill) cannot stop its pool, and the
workers would live on as orphans holding memory. Each worker watches its parent instead and
exits once the parent is gone, and a conversion it was running dies with it (the sandbox starts
it under `setpriv --pdeathsig KILL`, in a PID namespace that ends with its first process).
"""

from __future__ import annotations

import os
import threading
import time

CHECK_SECONDS = 0.5


def exit_with_parent(parent: int) -> None:
    """Worker initializer: a daemon thread that ends this process once `parent` is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
