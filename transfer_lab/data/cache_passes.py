"""What the image cache's two passes (decode, then verify: transfer_lab/data/cache.py and cache_verify.py)
share: the progress record they keep, the report they make, and the worker processes they run on."""

import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

PROGRESS = "progress.json"

Report = Callable[[str, int, int], None]  # (stage, images done, images in total)


def in_pool(function: Callable, tasks: list, workers: int, on_result: Callable) -> None:
    """Run function(task) for every task on `workers` processes, on_result(result) as each completes.
    Ctrl-C reaches only this process: it cancels what has not started, waits for the running
    chunks (seconds) and propagates."""
    with ProcessPoolExecutor(
        max(1, workers), initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN)
    ) as pool:
        futures = [pool.submit(function, task) for task in tasks]
        try:
            for future in as_completed(futures):
                on_result(future.result())
        finally:
            for future in futures:
                future.cancel()
