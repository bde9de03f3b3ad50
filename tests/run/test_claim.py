"""run/claim.py: one holder at a time, across processes; a dead holder's work is taken over."""

import json
import multiprocessing as mp
import os
from pathlib import Path

from transfer_lab.run.claim import claim


def _hold(lock: str, owner: str, held, release) -> None:
    with claim(Path(lock), Path(owner), "run") as got:
        assert got
        held.set()
        release.wait(30)


def test_a_held_claim_is_refused_without_waiting_and_named_with_its_holder(tmp_path, capsys):
    ctx = mp.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path / "x.lock"), str(tmp_path / "x.owner"), held, release))
    holder.start()
    try:
        assert held.wait(30)
        assert json.loads((tmp_path / "x.owner").read_text())["pid"] == holder.pid
        with claim(tmp_path / "x.lock", tmp_path / "x.owner", "run", wait=False) as got:
            assert got is False
        assert (tmp_path / "x.owner").exists()  # refusing does not touch the holder's owner file
    finally:
        release.set()
        holder.join(30)
    assert holder.exitcode == 0 and not (tmp_path / "x.owner").exists()  # removed when the holder's block ended
    with claim(tmp_path / "x.lock", tmp_path / "x.owner", "run", wait=False) as got:
        assert got is True
    assert "taking over" not in capsys.readouterr().err


def test_an_owner_file_left_by_a_dead_holder_is_taken_over_by_name(tmp_path, capsys):
    (tmp_path / "x.owner").write_text(json.dumps({"pid": 999999, "host": os.uname().nodename, "started": 0}))
    with claim(tmp_path / "x.lock", tmp_path / "x.owner", "AnB_k3") as got:
        assert got and json.loads((tmp_path / "x.owner").read_text())["pid"] == os.getpid()
    assert "taking over AnB_k3: process 999999 on" in capsys.readouterr().err
