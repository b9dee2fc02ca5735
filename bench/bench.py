"""`make bench`: the project's pipeline vs libvips vs Pillow on one corpus,
in the same run, pinned to one core, and peak RSS on the largest file.

usage: python bench.py AVATARS_BINARY CORPUS_DIR [--repeat N] [--out BENCHMARKS.md]
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

from report import replace_section

HERE = os.path.dirname(os.path.abspath(__file__))
JOBS = [("100+300", "100,300"), ("100+300+1200", "100,300,1200")]
FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}


def pinned(cmd):
    """cmd pinned to core 0 (single-core numbers; taskset is util-linux)."""
    return ["taskset", "-c", "0", *cmd] if shutil.which("taskset") else cmd


def run(cmd):
    """Runs cmd pinned; returns its JSON output lines."""
    proc = subprocess.run(pinned(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]


def engine_cmd(engine, binary, sizes, repeat, files, out):
    if engine == "avatars":
        return [binary, "render", *files, "--out", out, "--sizes", sizes,
                "--format", "jpeg", "--repeat", str(repeat), "--json"]
    return [sys.executable, os.path.join(HERE, "peers.py"), engine, sizes, str(repeat), *files]


def peak_rss(cmd):
    """Peak RSS (MiB) of a fresh process running `cmd` (the job once on the
    largest file): ru_maxrss of the waited child, read by a wrapper process
    of its own."""
    code = (
        "import resource,subprocess,sys;"
        "subprocess.run(sys.argv[1:],check=True,capture_output=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    wrapped = [sys.executable, "-c", code, *pinned(cmd)]
    return int(subprocess.run(wrapped, capture_output=True, text=True, check=True).stdout) / 1024


def rss_line(largest, rss, note):
    """The table's peak-RSS sentence: `rss` is {engine: MiB} on `largest`."""
    return (f"\nPeak RSS, one process doing this job on `{os.path.basename(largest)}`: "
            + ", ".join(f"{e} {mib:.0f} MiB" for e, mib in rss.items()) + f" ({note}).\n")


def arguments():
    """BINARY CORPUS [--repeat N] [--out FILE]: every benchmark's command line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("corpus")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    return ap.parse_args()


def main():
    a = arguments()
    files = sorted(
        os.path.join(a.corpus, f) for f in os.listdir(a.corpus)
        if os.path.splitext(f)[1].lower() in FORMATS
    )
    largest = max(files, key=_pixels)
    engines = ["avatars", "vips", "pillow"]
    out = tempfile.mkdtemp(prefix="avatars-bench-")
    lines = []
    summary = {}
    for job, sizes in JOBS:
        ms = {}
        for e in engines:
            ms[e] = {r["file"]: r["ms"] for r in run(engine_cmd(e, a.binary, sizes, a.repeat, files, out))}
        rss = {e: peak_rss(engine_cmd(e, a.binary, sizes, 1, [largest], out)) for e in engines}
        groups = {}
        for f in files:
            groups.setdefault(FORMATS[os.path.splitext(f)[1].lower()], []).append(f)
        groups["all"] = files
        lines.append(f"\n### Job {job} (JPEG q85 outputs), ms/image, fastest of {a.repeat} runs\n")
        lines.append("| inputs | n | avatars | libvips | Pillow | avatars / libvips | Pillow / libvips |")
        lines.append("|---|---|---|---|---|---|---|")
        for g in ["jpeg", "png", "webp", "all"]:
            fs = groups.get(g, [])
            if not fs:
                continue
            mean = {e: statistics.fmean(ms[e][f] for f in fs) for e in engines}
            lines.append(
                f"| {g} | {len(fs)} | {mean['avatars']:.1f} | {mean['vips']:.1f} | {mean['pillow']:.1f} "
                f"| **{mean['avatars'] / mean['vips']:.2f}** | {mean['pillow'] / mean['vips']:.2f} |"
            )
            if g == "all":
                summary[job] = mean["avatars"] / mean["vips"]
        lines.append(rss_line(largest, rss, "the Python peers include the interpreter"))
        lines.append("<details><summary>per file, ms</summary>\n")
        lines.append("| file | avatars | libvips | Pillow |")
        lines.append("|---|---|---|---|")
        for f in files:
            lines.append(f"| {os.path.basename(f)} | {ms['avatars'][f]:.1f} | {ms['vips'][f]:.1f} | {ms['pillow'][f]:.1f} |")
        lines.append("\n</details>")
    text = "\n".join(lines)
    print(text)
    for job, ratio in summary.items():
        print(f"job {job}: avatars / libvips = {ratio:.2f}")
    if a.out:
        import pyvips, PIL
        header = f"""## Thumbnails: avatars vs libvips vs Pillow

Reproduce: `make bench` (or `make bench CORPUS=dir`), which runs
`python bench/bench.py target/release/avatars $CORPUS --repeat {a.repeat} --out BENCHMARKS.md`.
This run: `CORPUS={a.corpus}` ({len(files)} files; the default is the repository's
`fixtures/images`).

The job, for every engine on the same files, one process per engine pinned to
one core (`taskset -c 0`), timed in-process excluding file reads: decode
(shrink-on-load where the engine has it), EXIF orientation, a square centre
crop per size (never upscaled), JPEG q85 without metadata. libvips does one
`thumbnail_buffer` per size (its recommended API); Pillow uses `draft` for
JPEG, `exif_transpose`, `ImageOps.fit` (Lanczos). Ratios are of the mean
ms/image; lower is faster.

Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()};
libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)} (pyvips {pyvips.__version__}),
Pillow {PIL.__version__}, Python {platform.python_version()}.
"""
        replace_section(a.out, "thumbnails", header + text)


def _pixels(path):
    from PIL import Image
    with Image.open(path) as im:
        return im.width * im.height


if __name__ == "__main__":
    main()
