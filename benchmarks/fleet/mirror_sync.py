"""What keeping the static mirror costs: one sync after one change (targets, snapshot and timestamp
re-signed) with 10, 100 and 1 000 earlier versions already in the mirror, on SQLite, in-process.

Each change is a real re-signing (``Repository.update_targets``); the sync is timed alone, as
``server run``'s mirror thread does it after the commit (the admin request does not wait for it).
Medians over the syncs at each size.

    .venv/bin/python benchmarks/fleet/mirror_sync.py [--out benchmarks/results] [--quick]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from timing import arguments, machine_line, scratch, write_results


def measure_sync(work: Path, sizes: tuple[int, ...] = (10, 100, 1000), samples: int = 20) -> list[dict]:
    from edgekit.server.home import open_home
    from edgekit.server.mirror.sync import sync_mirror
    from edgekit.server.repository.metadata import Repository, load
    from edgekit.server.repository.releases import BlobStore

    home = work / "server"
    subprocess.run([str(Path(sys.executable).parent / "edgekit"), "server", "init", "--home", str(home), "--json"],
                   check=True, capture_output=True)
    settings, database = open_home(home)
    repository, blobs, mirror = Repository(settings, database), BlobStore(settings.storage_dir), work / "mirror"

    def change() -> None:
        with database.session() as session:
            database.take_metadata_lock(session)
            targets = load(session, "targets")
            repository.update_targets(session, lambda: targets.signed.targets)

    results, versions = [], 1
    for size in sizes:
        while versions < size:  # the history, synced as it grows (as a running server would have)
            change()
            versions += 1
        sync_mirror(mirror, database, blobs)
        timings = []
        for _ in range(samples):
            change()
            versions += 1
            started = time.perf_counter()
            sync_mirror(mirror, database, blobs)
            timings.append(time.perf_counter() - started)
        results.append({"versions_in_mirror": size, "sync_ms": statistics.median(timings) * 1000,
                        "max_ms": max(timings) * 1000, "samples": samples})
    database.engine.dispose()
    return results


def markdown(results: list[dict], machine: dict) -> str:
    lines = ["# Keeping the static mirror: one sync after one change", "",
             (f"{machine_line(machine)}; SQLite; median of {results[0]['samples']} syncs at each size (each after a "
              "re-signing of targets, snapshot and timestamp: three new files, timestamp.json renamed last, fsync'd)."), "",
             "| versions already in the mirror | sync ms (median) | max ms |", "|---:|---:|---:|"]
    lines += [f"| {r['versions_in_mirror']:,} | {r['sync_ms']:.1f} | {r['max_ms']:.1f} |" for r in results]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "10 and 100 earlier versions only")
    with scratch() as work:
        results = measure_sync(work, (10, 100) if args.quick else (10, 100, 1000))
    print(write_results(args.out, "fleet_mirror_sync_quick" if args.quick else "fleet_mirror_sync", results, markdown).read_text())


if __name__ == "__main__":
    main()
