"""Batches of uint8 images gathered straight from the image arrays and handed over on the device.

Why not a DataLoader with worker processes: a uint8 ImageNet batch is 50 MB (256 x 3 x 256 x 256),
and a worker pipeline copies it three times on the host (array -> worker shared memory -> pinned
memory -> device), the pin-memory step in one thread. On an H100 host that held the full path to
12-21k images/s while the network alone ate 16-52k. Here each batch is copied once on the host:
`threads` threads gather rows of the (memory-mapped) array straight into one of a ring of pinned
buffers (numpy's take releases the GIL), and the copy to the GPU runs on a side stream, one batch
ahead of the step that uses it. On the CPU the gathered batch is the batch: nothing is pinned or copied.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


class BatchLoader:
    """Iterable of (uint8 images N x C x H x W, int64 labels) batches on `device`.

    shuffle=True: a new random order each epoch (drawn from `generator`, else torch's global RNG), the
    last incomplete batch dropped; shuffle=False: dataset order, every image once. Rows within a
    batch are sorted: reads from a memory-mapped array then go forward through the file.
    """

    def __init__(
        self,
        images,
        labels: np.ndarray,
        batch_size: int,
        shuffle: bool,
        threads: int = 1,
        device="cpu",
        generator: torch.Generator | None = None,
    ):
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.generator = generator
        self.batch_size = min(batch_size, len(self.labels))
        self.shuffle = shuffle
        self.threads = max(1, threads)
        self.device = torch.device(device)
        # Where training is in its epochs, for an exact resume (position / resume_at): the generator's state
        # before it drew this epoch's order, and how many of the epoch's batches were served.
        self.order_state = self.generator.get_state() if self.generator is not None else None
        self.served = 0
        self.skip = 0

    def __len__(self) -> int:
        full, rest = divmod(len(self.labels), self.batch_size)
        return full + (1 if rest and not self.shuffle else 0)

    def batch_rows(self) -> list[np.ndarray]:
        """The rows of each batch of one epoch, in the order they are served."""
        if self.generator is not None:
            self.order_state = self.generator.get_state()
        order = (
            torch.randperm(len(self.labels), generator=self.generator).numpy()
            if self.shuffle
            else np.arange(len(self.labels))
        )
        return [np.sort(order[i * self.batch_size : (i + 1) * self.batch_size]) for i in range(len(self))]

    def position(self) -> dict:
        """Where the epochs are: the state this epoch's order was drawn from and the batches served of it."""
        return {"order_state": self.order_state, "served": self.served}

    def resume_at(self, position: dict) -> None:
        """The next epoch served continues the one of `position` after its served batches (a new epoch
        if it was complete), in the same order: a resumed run sees the batches the uninterrupted one saw."""
        if self.generator is None or position["order_state"] is None:
            raise ValueError("only a loader with a generator of its own can resume its order")
        self.generator.set_state(position["order_state"])
        self.skip = position["served"]
        if self.skip >= len(self):  # the epoch was complete: draw past its order
            self.batch_rows()
            self.skip = 0

    def __iter__(self):
        batches = self.batch_rows()
        self.served, self.skip = self.skip, 0
        rest = batches[self.served :]
        if self.device.type != "cuda" and self.threads == 1:
            # One thread on the CPU: gather in the step's own thread. Handing each batch to a pool thread
            # cost a thread switch per step, more than the gather of a small batch (docs/benchmark.md).
            yield from self.counted(self.gather(rows) for rows in rest)
            return
        with ThreadPoolExecutor(self.threads) as pool:
            if self.device.type == "cuda":
                yield from self.counted(self._on_cuda(pool, rest))
            else:
                yield from self.counted(in_order(pool, self.gather, [(rows,) for rows in rest], depth=self.threads))

    def counted(self, batches):
        """`batches`, counting each one served (the position a checkpoint saves)."""
        for batch in batches:
            self.served += 1
            yield batch

    def gather(self, rows: np.ndarray, out: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Images and labels of `rows`, written into `out` (buffers of at least len(rows)) if given."""
        if out is None:
            return torch.from_numpy(self.images.take(rows)), torch.from_numpy(self.labels[rows])
        images, labels = (buffer[: len(rows)] for buffer in out)
        self.images.take(rows, out=images.numpy())
        labels.numpy()[:] = self.labels[rows]
        return images, labels

    def _on_cuda(self, pool: ThreadPoolExecutor, batches: list[np.ndarray]):
        depth = self.threads
        # `depth` buffers being filled, one whose batch is being copied, one spare so a fill rarely waits.
        # A ring per epoch: an abandoned epoch's fills never write into the next epoch's buffers.
        # torch caches pinned memory, so this costs an allocation once per process, not per epoch.
        shape = (self.batch_size, *self.images.shape[1:])
        ring = [
            (
                torch.empty(shape, dtype=torch.uint8, pin_memory=True),
                torch.empty(self.batch_size, dtype=torch.int64, pin_memory=True),
            )
            for _ in range(depth + 2)
        ]
        copied: list[torch.cuda.Event | None] = [None] * len(ring)  # per buffer: its last copy to the device
        copy_stream = torch.cuda.Stream(self.device)
        step_stream = torch.cuda.current_stream(self.device)

        def fill(slot: int, rows: np.ndarray):
            if copied[slot] is not None:
                copied[slot].synchronize()  # the device has read the buffer's previous batch
            return slot, self.gather(rows, ring[slot])

        def to_device(slot: int, batch) -> tuple[tuple[torch.Tensor, ...], torch.cuda.Event]:
            with torch.cuda.stream(copy_stream):
                on_device = tuple(t.to(self.device, non_blocking=True) for t in batch)
                copied[slot] = torch.cuda.Event()
                copied[slot].record(copy_stream)
            return on_device, copied[slot]

        def hand_over(on_device: tuple[torch.Tensor, ...], copy_done: torch.cuda.Event) -> tuple[torch.Tensor, ...]:
            step_stream.wait_event(copy_done)  # this batch's copy only, not the next one's
            for tensor in on_device:  # the allocator must not reuse this memory before the step has run
                tensor.record_stream(step_stream)
            return on_device

        # Each batch is copied while the previous one trains, so the step never waits for a copy.
        staged = None
        for slot, batch in in_order(pool, fill, [(i % len(ring), rows) for i, rows in enumerate(batches)], depth):
            ready = to_device(slot, batch)
            if staged is not None:
                yield hand_over(*staged)
            staged = ready
        if staged is not None:
            yield hand_over(*staged)


def in_order(pool: ThreadPoolExecutor, function, calls: list[tuple], depth: int):
    """Results of function(*call) for each call, in order, with up to `depth` calls running ahead."""
    running = deque(pool.submit(function, *call) for call in calls[:depth])
    for call in calls[depth:]:
        result = running.popleft().result()
        running.append(pool.submit(function, *call))
        yield result
    while running:
        yield running.popleft().result()
