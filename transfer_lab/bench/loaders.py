"""`--loader-jobs N`: N input-only loaders at once in N processes, as the jobs of an N-GPU host read one cache."""

import itertools
import multiprocessing
import time

from transfer_lab.bench.timing import spec_for
from transfer_lab.data.loader import BatchLoader
from transfer_lab.data.registry import target_half


def loader_job(overrides: list[str], steps: int, ready, results) -> None:
    """One input-only loader as a run's process has it (host side: gather from the cache into batches);
    after all jobs are ready, put (start, stop, images) on `results`."""
    spec = spec_for(0, overrides)
    _, _, half = target_half(spec)
    loader = BatchLoader(
        half.train_images,
        half.train_labels,
        spec.recipe["batch_size"],
        shuffle=True,
        threads=spec.data["loader_threads"],
    )
    batches = itertools.islice(itertools.chain.from_iterable(itertools.repeat(loader)), steps)
    ready.wait()
    start = time.perf_counter()
    images = sum(len(labels) for _, labels in batches)
    results.put((start, time.perf_counter(), images))


def loader_jobs(jobs: int, overrides: list[str], steps: int) -> dict:
    """`jobs` input-only loaders at once in separate processes, reading one cache (one page cache), as
    the jobs of a multi-GPU host would: their aggregate images/s (CLOCK_MONOTONIC is shared across processes)."""
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(jobs), context.Queue()
    processes = [context.Process(target=loader_job, args=(overrides, steps, ready, results)) for _ in range(jobs)]
    for process in processes:
        process.start()
    runs = [results.get() for _ in processes]
    for process in processes:
        process.join()
    seconds = max(stop for _, stop, _ in runs) - min(start for start, _, _ in runs)
    per_job = [images / (stop - start) for start, stop, images in runs]
    return {
        "jobs": jobs,
        "steps": steps,
        "aggregate_images_per_s": round(sum(i for _, _, i in runs) / seconds, 1),
        "slowest_job_images_per_s": round(min(per_job), 1),
    }
