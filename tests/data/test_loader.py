"""BatchLoader: which rows each batch holds, in what order, and that labels travel with their images."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from transfer_lab.data.images import Rows
from transfer_lab.data.loader import BatchLoader, in_order

N = 103  # not a multiple of the batch size


def numbered_images(n: int = N) -> tuple[Rows, np.ndarray]:
    """Image i is filled with i (and its label is i % 7), behind a Rows view of every other row of a larger array."""
    array = np.repeat(np.arange(2 * n, dtype=np.uint8) // 2, 12).reshape(2 * n, 3, 2, 2)
    return Rows(array, np.arange(0, 2 * n, 2)), np.arange(n) % 7


def image_ids(images: torch.Tensor) -> list[int]:
    return images[:, 0, 0, 0].tolist()


@pytest.mark.parametrize("threads", [1, 3])
def test_a_training_epoch_serves_full_batches_of_distinct_images_with_their_labels(threads):
    images, labels = numbered_images()
    loader = BatchLoader(images, labels, batch_size=10, shuffle=True, threads=threads)
    batches = list(loader)
    assert len(batches) == len(loader) == N // 10  # the incomplete last batch is dropped
    seen = []
    for batch_images, batch_labels in batches:
        ids = image_ids(batch_images)
        assert (
            batch_images.shape == (10, 3, 2, 2)
            and batch_images.dtype == torch.uint8
            and batch_labels.dtype == torch.int64
        )
        assert ids == sorted(ids)  # sorted rows: forward reads through a memory-mapped file
        assert batch_labels.tolist() == [i % 7 for i in ids]
        seen += ids
    assert len(set(seen)) == len(seen) == 10 * (N // 10)


def test_training_order_changes_every_epoch_and_repeats_under_the_same_seed():
    images, labels = numbered_images()

    def two_epochs(threads: int):
        torch.manual_seed(0)
        loader = BatchLoader(images, labels, batch_size=10, shuffle=True, threads=threads)
        return [[image_ids(batch) for batch, _ in loader] for _ in range(2)]

    first, second = two_epochs(threads=1)
    assert first != second
    assert two_epochs(threads=1) == two_epochs(threads=4) == [first, second]


def test_validation_serves_every_image_once_in_order_with_a_short_last_batch():
    images, labels = numbered_images()
    loader = BatchLoader(images, labels, batch_size=10, shuffle=False, threads=2)
    batches = list(loader)
    assert len(batches) == len(loader) == 11 and len(batches[-1][1]) == 3
    assert [i for b, _ in batches for i in image_ids(b)] == list(range(N))


def test_a_batch_larger_than_the_data_serves_all_of_it_once_per_epoch():
    images, labels = numbered_images(5)
    loader = BatchLoader(images, labels, batch_size=64, shuffle=True)
    [(batch, _)] = list(loader)
    assert sorted(image_ids(batch)) == list(range(5))


def test_gather_writes_into_the_buffer_it_is_given():
    images, labels = numbered_images()
    loader = BatchLoader(images, labels, batch_size=10, shuffle=False)
    buffers = torch.zeros(10, 3, 2, 2, dtype=torch.uint8), torch.zeros(10, dtype=torch.int64)
    batch_images, _ = loader.gather(np.array([4, 9, 50]), out=buffers)
    assert batch_images.data_ptr() == buffers[0].data_ptr() and image_ids(buffers[0][:3]) == [4, 9, 50]
    assert buffers[1][:3].tolist() == [4, 2, 1]


def test_in_order_keeps_order_and_runs_at_most_depth_calls_ahead():
    started = []

    def call(i):
        started.append(i)
        return i * i

    with ThreadPoolExecutor(2) as pool:
        results = in_order(pool, call, [(i,) for i in range(10)], depth=3)
        assert next(results) == 0
        assert max(started) <= 3  # 0 served, 1..3 ahead
        assert list(results) == [i * i for i in range(1, 10)]


@pytest.mark.parametrize("stop", [4, 10], ids=["mid-epoch", "end-of-epoch"])
def test_a_loader_resumed_at_another_ones_position_serves_what_that_one_would_have(stop):
    images, labels = numbered_images()

    def loader() -> BatchLoader:
        return BatchLoader(images, labels, batch_size=10, shuffle=True, generator=torch.Generator().manual_seed(3))

    whole = loader()
    expected = [image_ids(batch) for _ in range(3) for batch, _ in whole]  # three epochs of 10 batches
    stopped = loader()
    batches = iter(stopped)
    for _ in range(stop):
        next(batches)
    resumed = loader()
    resumed.resume_at(stopped.position())
    served = [image_ids(batch) for _ in range(2) for batch, _ in resumed]  # the rest of the epoch, then a whole one
    assert served == expected[stop : stop + len(served)] and len(served) == 20 - stop % 10
