"""io.py: every writer is atomic, so a full disk leaves the previous file whole and no temp file behind."""

import json
import sys

import pytest
from conftest import run_under_file_limit

from transfer_lab.io import append_jsonl, write_csv_rows, write_text

# Each writer replaces a small file with one of ~20 KiB: under `ulimit -f 8` (8 KiB; like a full disk, the
# write past it fails with EFBIG, Python ignores SIGXFSZ) every one must fail and leave the old file.
WRITERS = {
    "report.md": "write_text(path, 'x' * 20000)",
    "results.csv": "write_csv_rows(path, ['a', 'b'], [{'a': i, 'b': 'y' * 20} for i in range(1000)])",
    "times.jsonl": "append_jsonl(path, [{'network': 'n' * 100, 'seconds': 1.0}] * 200)",
    "result.json": "write_json(path, {'x': 'y' * 20000})",
    "figure.png": "save_figure_file(figure(), path, dpi=300)",
}
SCRIPT = """
import sys
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import numpy as np
from matplotlib import pyplot
from transfer_lab.io import append_jsonl, save_figure_file, write_csv_rows, write_json, write_text

def figure():
    fig, ax = pyplot.subplots()
    ax.imshow(np.random.default_rng(0).random((200, 200)))  # noise: a PNG that does not compress below 8 KiB
    return fig

for name, write in {writers}.items():
    path = Path(sys.argv[1]) / name
    try:
        eval(write)
        print(name, "written")
    except OSError as err:
        print(name, type(err).__name__, err.errno)
"""


@pytest.mark.slow  # a subprocess importing torch and matplotlib
def test_a_write_that_hits_a_full_disk_leaves_the_previous_file_complete(tmp_path):
    for name in WRITERS:
        (tmp_path / name).write_text('{"previous": "complete"}\n')
    # ulimit -f 8: this process cannot write a file over 8 KiB.
    done = run_under_file_limit(8, f'{sys.executable} -c "$0" {tmp_path}', SCRIPT.format(writers=WRITERS))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [f"{name} OSError 27" for name in WRITERS]  # EFBIG: each hit the limit
    for name in WRITERS:
        assert (tmp_path / name).read_text() == '{"previous": "complete"}\n', name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*WRITERS, "times.jsonl.lock"])  # no temp file left


def test_the_writers_write_what_they_are_given(tmp_path):
    write_text(tmp_path / "a.md", "é\n")
    write_csv_rows(tmp_path / "a.csv", ["a", "b"], [{"a": 1, "b": "x,y", "c": "left out"}])
    append_jsonl(tmp_path / "t.jsonl", [{"n": 1}])
    append_jsonl(tmp_path / "t.jsonl", [{"n": 2}, {"n": 3}])
    assert (tmp_path / "a.md").read_text() == "é\n"
    assert (tmp_path / "a.csv").read_bytes() == b'a,b\r\n1,"x,y"\r\n'  # the csv module's line ends
    assert [json.loads(line)["n"] for line in (tmp_path / "t.jsonl").read_text().splitlines()] == [1, 2, 3]
