"""`python -m transfer_lab.prepare data=imagenet data.root=PATH`: decode ImageNet once into the cache
training reads (transfer_lab/data/cache.py), on all CPU cores, with a progress bar and an ETA.

Takes the same overrides as `python -m transfer_lab` (data.image_size, data.cache_dir, paths.root).
Interrupt it at any time (Ctrl-C, a killed job): the same command resumes where it stopped.
"""

import argparse
import os
import sys

from tqdm import tqdm

from transfer_lab.compose import compose_config, data_config
from transfer_lab.console import command_line, fail
from transfer_lab.data import cache, imagenet
from transfer_lab.data.cache_verify import VerifyError
from transfer_lab.errors import ConfigError

SHOW_SKIPPED = 20


class ProgressBars:
    """One tqdm bar per stage (decode, verify): images done, rate and ETA."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.stage, self.bar = enabled, None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(
                total=total, initial=done, desc=stage, unit="img", disable=not self.enabled, dynamic_ncols=True
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m transfer_lab.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count(), help="decoding processes (default: all CPU cores)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, batch jobs)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. data=imagenet data.root=/data/ILSVRC2012")
    args = parser.parse_args(argv)
    command = command_line("python -m transfer_lab.prepare", argv)
    bars = ProgressBars(enabled=not args.no_progress)
    try:
        data = data_config(compose_config(args.overrides))
        if data["name"] != "imagenet":
            raise ConfigError(f"prepare converts ImageNet, not data={data['name']}: add data=imagenet data.root=PATH")
        size = data["image_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"data.image_size={size!r} is not a size in pixels: use e.g. data.image_size=256")
        tree = imagenet.scan(data.get("root"))
        folder = imagenet.cache_dir(data)
        counts = {phase: len(files) for phase, (files, _) in tree.phases.items()}
        gigabytes = sum(counts.values()) * 3 * size * size / 1e9
        print(
            f"{tree.root} ({tree.layout} layout): {len(tree.wnids)} classes, "
            f"{counts['train']} train + {counts['val']} val files"
            f" -> {folder} ({size} px, {gigabytes:.2f} GB), {args.workers} workers",
            file=sys.stderr,
        )
        manifest = cache.write_cache(
            folder,
            tree.root,
            tree.phases,
            len(tree.wnids),
            size,
            meta={"root": str(tree.root), "layout": tree.layout, "wnids": tree.wnids},
            workers=args.workers,
            report=bars,
        )
    except (ConfigError, VerifyError) as err:
        bars.close()
        fail(str(err))
    except KeyboardInterrupt:
        bars.close()
        print(f"\ninterrupted: what was written is kept; resume with: {command}", file=sys.stderr)
        sys.exit(130)
    bars.close()
    report(manifest, folder)


def report(manifest: dict, folder) -> None:
    """The cache's counts and every skipped file (the full list is in the manifest)."""
    for phase, info in manifest["phases"].items():
        print(f"{phase}: {info['images']} images, {len(info['skipped'])} unreadable files skipped")
        for entry in info["skipped"][:SHOW_SKIPPED]:
            print(f"  skipped {entry['file']}: {entry['error']}")
        if len(info["skipped"]) > SHOW_SKIPPED:
            print(f"  ... and {len(info['skipped']) - SHOW_SKIPPED} more, listed in {folder / cache.MANIFEST}")
    print(f"complete: {folder}")


if __name__ == "__main__":
    main()
