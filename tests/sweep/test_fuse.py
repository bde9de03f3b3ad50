"""sweep/sweeper.py: which jobs of a sweep train side by side."""

from transfer_lab.sweep.sweeper import fuse_frozen


def job(name: str, k: int, key: str | None) -> dict:
    return {
        "overrides": [f"run={name}"],
        "k": k,
        "run_dir": f"/runs/{name}",
        "config_hash": f"hash-{name}",
        "fuse_key": key,
    }


def test_frozen_transfers_that_differ_only_in_k_become_their_first_job():
    jobs = [
        job("baseB", 0, None),
        job("BnB_k1", 1, "B"),
        job("BnB+_k1", 1, None),
        job("AnB_k1", 1, "A"),
        job("BnB_k2", 2, "B"),
        job("AnB_k2", 2, "A"),
        job("BnB_k3", 3, "B"),
    ]
    launched = fuse_frozen(jobs)
    assert [j["overrides"][0] for j in launched] == ["run=baseB", "run=BnB_k1", "run=BnB+_k1", "run=AnB_k1"]
    assert [other["k"] for other in launched[1]["fused_with"]] == [2, 3]
    assert launched[1]["fused_with"][0] == {"k": 2, "run_dir": "/runs/BnB_k2", "config_hash": "hash-BnB_k2"}
    assert [other["run_dir"] for other in launched[3]["fused_with"]] == ["/runs/AnB_k2"]
    assert "fused_with" not in launched[0] and "fused_with" not in launched[2]


def test_a_frozen_transfer_without_a_partner_is_launched_alone():
    launched = fuse_frozen([job("AnB_k3", 3, "A"), job("AnB_k3", 3, "A-seed1")])
    assert len(launched) == 2 and not any("fused_with" in j for j in launched)
