"""W&B in offline mode: the run file holds the group, job type, tags, config and metrics."""

import json
import struct
from pathlib import Path

from conftest import QUICK


def wandb_records(run_file: Path):
    """Records of a .wandb file (a LevelDB-style log: 7-byte header, 32 KiB blocks of chunks)."""
    from wandb.proto import wandb_internal_pb2  # here, so that collecting the GPU tests needs no wandb

    data, pos, pending = run_file.read_bytes(), 7, b""
    while pos + 7 <= len(data):
        left_in_block = 32768 - pos % 32768
        if left_in_block < 7:
            pos += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            pos += left_in_block - 7
            continue
        pending += data[pos : pos + length]
        pos += length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def test_wandb_offline_run_holds_group_tags_config_and_metrics(cli, root):
    done = cli(
        "+exp=anb",
        "k=2",
        "logger=wandb",
        "trainer.log_every_n_steps=1",
        *QUICK,
        root=root,
        env={"WANDB_MODE": "offline"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run_files = sorted(root.glob("runs/**/wandb/offline-run-*/run-*.wandb"))
    assert len(run_files) == 2  # the base trained on demand, then the transfer: one W&B run each
    transfer = next(f for f in run_files if "AnB_k2" in str(f))
    records = list(wandb_records(transfer))
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    # One W&B group per study: its names and the hash of its training settings, as its result.json holds them.
    record = json.loads(next(root.glob("runs/**/AnB_k2/*/result.json")).read_text())
    assert run.run_group == f"animalfashion-random-alexnet_small-tiny-{record['study_settings']}"
    assert run.job_type == "transfer"
    assert set(run.tags) == {"AnB", "split:random-s0", "k:2", "frozen"}
    config = {item.key for item in run.config.update}
    assert {"k", "freeze", "data", "model", "recipe", "config_hash"} <= config
    metrics = {r.metric.name: r.metric for r in records if r.WhichOneof("record_type") == "metric"}
    assert metrics["val/top1"].summary.max
    history_keys = {
        "/".join(item.nested_key) or item.key
        for r in records
        if r.WhichOneof("record_type") == "history"
        for item in r.history.item
    }
    assert "val/top1" in history_keys and "train/loss" in history_keys
    exits = [r for r in records if r.WhichOneof("record_type") == "exit"]
    assert exits, "the W&B run was not finished"
