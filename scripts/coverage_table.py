"""Per-crate line coverage from cargo-llvm-cov's JSON summaries.

    python3 scripts/coverage_table.py OUT_DIR PURE_CRATE...

OUT_DIR holds workspace.json (every test of the workspace) and CRATE.json
for each pure crate (its own tests alone), as scripts/coverage.sh writes
them. Prints two Markdown tables; a file belongs to the crate whose
directory (from `cargo metadata`) holds it, the deepest one.
"""

import json
import subprocess
import sys
from pathlib import Path


def crate_dirs():
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"]))
    return sorted(((Path(p["manifest_path"]).parent, p["name"]) for p in meta["packages"]),
                  key=lambda d: len(str(d[0])), reverse=True)


def lines_by_crate(summary, dirs):
    """{crate: [covered, count]} over the files of one JSON summary."""
    totals = {}
    for data in json.loads(summary.read_text())["data"]:
        for file in data["files"]:
            path = Path(file["filename"])
            crate = next((name for d, name in dirs if path.is_relative_to(d)), None)
            if crate is None:
                continue
            lines = file["summary"]["lines"]
            total = totals.setdefault(crate, [0, 0])
            total[0] += lines["covered"]
            total[1] += lines["count"]
    return totals


def percent(covered, count):
    return 100.0 * covered / count if count else 100.0


def main():
    out, pure = Path(sys.argv[1]), sys.argv[2:]
    dirs = crate_dirs()
    everything = lines_by_crate(out / "workspace.json", dirs)
    print("Line coverage under every Rust test of the workspace (`make coverage`):\n")
    print("| crate | lines | covered | % |")
    print("|---|---|---|---|")
    for crate, (covered, count) in sorted(everything.items()):
        print(f"| {crate} | {count} | {covered} | {percent(covered, count):.1f} |")
    covered = sum(c for c, _ in everything.values())
    count = sum(n for _, n in everything.values())
    print(f"| **workspace** | {count} | {covered} | **{percent(covered, count):.1f}** |")
    print("\nPure crates under their own tests alone:\n")
    print("| crate | lines | covered | % |")
    print("|---|---|---|---|")
    for crate in pure:
        own = lines_by_crate(out / f"{crate}.json", dirs).get(crate, [0, 0])
        print(f"| {crate} | {own[1]} | {own[0]} | {percent(*own):.1f} |")


if __name__ == "__main__":
    main()
