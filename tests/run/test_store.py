import multiprocessing as mp
import time
from pathlib import Path

import pytest
import torch

from transfer_lab.errors import ConfigError
from transfer_lab.run.store import BaseNetwork, BaseStore
from transfer_lab.spec import RunSpec


def base_spec(root: Path, seed: int = 0) -> RunSpec:
    return RunSpec(
        kind="base",
        target="A",
        source=None,
        k=0,
        freeze=False,
        seed=seed,
        auto_base=True,
        data={"name": "toy"},
        split={"name": "random", "seed": 0},
        model={"name": "m"},
        recipe={"name": "r"},
        root=str(root),
    )


def fake_train(store: BaseStore, log: Path, seconds: float = 0.0):
    def train(spec: RunSpec) -> None:
        with open(log, "a") as f:
            f.write("trained\n")
        time.sleep(seconds)
        store.publish(spec, {"conv1.weight": torch.ones(2)}, torch.zeros(1, 2, 2), {"val_top1": 0.5})

    return train


def found_or_trained(store: BaseStore, spec: RunSpec, train) -> BaseNetwork:
    """What study.stored_base does, with a stand-in for the fit."""
    with store.claim(spec):
        if store.find(spec, "cmd") is None:
            train(spec)
        return store.find(spec, "cmd")


def test_a_base_is_trained_once_then_found(tmp_path):
    store, log = BaseStore(tmp_path), tmp_path / "log"
    first = found_or_trained(store, base_spec(tmp_path), fake_train(store, log))
    again = found_or_trained(store, base_spec(tmp_path), fake_train(store, log))
    assert log.read_text().count("trained") == 1
    assert torch.equal(first.net_state["conv1.weight"], again.net_state["conv1.weight"])
    assert store.find(base_spec(tmp_path, seed=1), "cmd") is None


def _worker(root: str, log: str, barrier) -> None:
    store = BaseStore(root)
    barrier.wait()
    found_or_trained(store, base_spec(Path(root)), fake_train(store, Path(log), seconds=1.0))


def test_two_processes_needing_the_same_base_train_it_once(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), str(tmp_path / "log"), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert (tmp_path / "log").read_text().count("trained") == 1


def test_a_corrupt_base_is_reported_with_the_rebuild_command(tmp_path):
    store = BaseStore(tmp_path)
    spec = base_spec(tmp_path)
    found_or_trained(store, spec, fake_train(store, tmp_path / "log"))
    checkpoint = store.folder(spec) / "base.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:-10])
    with pytest.raises(ConfigError, match=r"corrupt.*python -m transfer_lab \+exp=base half=A"):
        store.find(spec, "python -m transfer_lab +exp=base half=A")


def test_only_complete_bases_are_visible(tmp_path):
    store = BaseStore(tmp_path)
    spec = base_spec(tmp_path)
    store.folder(spec).mkdir(parents=True)
    (store.folder(spec) / "base.pt").write_bytes(b"half-written")  # no base.json yet: not complete
    assert store.find(spec, "cmd") is None
