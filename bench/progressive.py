"""`make bench`, second part: progressive JPEGs decoded from their DC scans
alone (the default) vs every scan (`avatars render --all-scans`, what the
project did before, and what libvips and Pillow do), next to libvips and
Pillow, in the same run, pinned to one core.

Inputs: every JPEG of CORPUS_DIR made progressive losslessly with Debian's
`jpegtran -progressive` (libjpeg-turbo-progs; files already progressive are
used as they are). A size takes the DC path when 1/8 of the short side
covers the largest size of the job.

usage: python progressive.py AVATARS_BINARY CORPUS_DIR [--repeat N] [--out BENCHMARKS.md]
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from bench import _pixels, arguments, engine_cmd, peak_rss, run
from report import replace_section

JOBS = [("100", "100"), ("100+300", "100,300")]
ENGINES = ["avatars", "all-scans", "vips", "pillow"]


def progressive_copies(corpus, into):
    """The corpus's JPEGs as progressive files in `into` (jpegtran keeps the
    coefficients and the metadata: same pixels, same orientation)."""
    out = []
    for name in sorted(os.listdir(corpus)):
        if os.path.splitext(name)[1].lower() not in (".jpg", ".jpeg"):
            continue
        src, dst = os.path.join(corpus, name), os.path.join(into, name)
        with open(src, "rb") as fh:
            data = fh.read()
        if b"\xff\xc2" in data[: data.find(b"\xff\xda")]:
            shutil.copy(src, dst)
        else:
            subprocess.run(["jpegtran", "-progressive", "-copy", "all", "-outfile", dst, src], check=True)
        out.append(dst)
    return out


def command(engine, binary, sizes, repeat, files, out):
    if engine == "all-scans":
        return engine_cmd("avatars", binary, sizes, repeat, files, out) + ["--all-scans"]
    return engine_cmd(engine, binary, sizes, repeat, files, out)


def short_side(path):
    from PIL import Image
    with Image.open(path) as im:
        return min(im.size)


def main():
    a = arguments()
    work = tempfile.mkdtemp(prefix="avatars-progressive-")
    files = progressive_copies(a.corpus, work)
    if not files:
        sys.exit(f"no JPEGs in {a.corpus}")
    largest = max(files, key=_pixels)
    sides = {f: short_side(f) for f in files}
    out = os.path.join(work, "out")
    lines = []
    for job, sizes in JOBS:
        biggest = max(int(s) for s in sizes.split(","))
        ms = {e: {r["file"]: r["ms"] for r in run(command(e, a.binary, sizes, a.repeat, files, out))} for e in ENGINES}
        rss = {e: peak_rss(command(e, a.binary, sizes, 1, [largest], out)) for e in ENGINES}
        dc = [f for f in files if sides[f] // 8 >= biggest]
        lines.append(f"\n### Job {job} (JPEG q85 outputs), ms/image, fastest of {a.repeat} runs\n")
        lines.append("| inputs | n | avatars (DC scans) | avatars (all scans) | libvips | Pillow | DC / all scans | avatars / libvips |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for label, fs in [("taking the DC path", dc), ("all progressive", files)]:
            if not fs:
                continue
            mean = {e: statistics.fmean(ms[e][f] for f in fs) for e in ENGINES}
            lines.append(
                f"| {label} | {len(fs)} | {mean['avatars']:.1f} | {mean['all-scans']:.1f} | {mean['vips']:.1f} "
                f"| {mean['pillow']:.1f} | **{mean['avatars'] / mean['all-scans']:.2f}** "
                f"| **{mean['avatars'] / mean['vips']:.2f}** |"
            )
        lines.append(
            f"\nPeak RSS on `{os.path.basename(largest)}`: "
            + ", ".join(f"{e} {rss[e]:.0f} MiB" for e in ENGINES)
            + ".\n"
        )
        lines.append("| file | short side | DC path | avatars | all scans | libvips | Pillow |")
        lines.append("|---|---|---|---|---|---|---|")
        for f in files:
            lines.append(
                f"| {os.path.basename(f)} | {sides[f]} | {'yes' if f in dc else 'no'} "
                f"| {ms['avatars'][f]:.1f} | {ms['all-scans'][f]:.1f} | {ms['vips'][f]:.1f} | {ms['pillow'][f]:.1f} |"
            )
    text = "\n".join(lines)
    print(text)
    if a.out:
        header = f"""## Progressive JPEGs: DC scans alone vs every scan

Reproduce: `make bench`, whose second step runs
`python bench/progressive.py target/release/avatars $CORPUS --repeat {a.repeat} --out BENCHMARKS.md`.
Inputs: the {len(files)} JPEGs of `{a.corpus}`, made progressive losslessly with
`jpegtran -progressive -copy all` (libjpeg's standard scan script; the
corpus's progressive file as it is). Same method as the section above (one
core, in-process timing, fastest of {a.repeat}). "avatars (all scans)" is
`avatars render --all-scans`: the decode before this change, and what libvips
and Pillow do. A file takes the DC path when 1/8 of its short side covers the
job's largest size; the others decode every scan either way.
"""
        replace_section(a.out, "progressive", header + text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
