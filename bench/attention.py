"""`make bench`, `CROP=attention` part: what choosing the square by content
costs per image, and how often it moves the square off the centre.

For every image of CORPUS_DIR, `avatars render` does the thumbnail
function's job (100+300, JPEG q85) twice in the same run, pinned to one
core: as it runs by default (the centred square) and with `--attention`
(`CROP=attention`: the square chosen on the decode the render has, from
edges, skin tones and saturation; the centre where nothing stands out).
The cost is the difference of the fastest of N runs; "square" is what
attention chose.

usage: python attention.py AVATARS_BINARY CORPUS_DIR [--repeat N] [--out BENCHMARKS.md]
"""
import os
import statistics
import tempfile

from bench import FORMATS, arguments, engine_cmd, run
from report import replace_section


def job(binary, files, repeat, out, *extra):
    """The thumbnails table's 100+300 job (`engine_cmd`), one JSON line per file."""
    return {r["file"]: r for r in run([*engine_cmd("avatars", binary, "100,300", repeat, files, out), *extra])}


def main():
    a = arguments()
    files = sorted(os.path.join(a.corpus, f) for f in os.listdir(a.corpus)
                   if os.path.splitext(f)[1].lower() in FORMATS)
    out = tempfile.mkdtemp(prefix="avatars-attention-")
    centre = job(a.binary, files, a.repeat, out)
    attention = job(a.binary, files, a.repeat, out, "--attention")
    lines = ["| file | centre, ms | attention, ms | cost | square |", "|---|---|---|---|---|"]
    costs, moved = [], 0
    for f in files:
        c, t = centre[f]["ms"], attention[f]["ms"]
        crop = attention[f]["crop"]
        moved += crop is not None
        costs.append((t - c) / c)
        square = "centre" if crop is None else f"{crop['width']} px at {crop['x']}, {crop['y']}"
        lines.append(f"| {os.path.basename(f)} | {c:.1f} | {t:.1f} | {100 * (t - c) / c:+.1f} % | {square} |")
    mean_c = statistics.fmean(centre[f]["ms"] for f in files)
    mean_t = statistics.fmean(attention[f]["ms"] for f in files)
    lines.append(f"| **all {len(files)}** | {mean_c:.1f} | {mean_t:.1f} | "
                 f"**{100 * (mean_t - mean_c) / mean_c:+.1f} %** | moved on {moved} of {len(files)} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        header = f"""## CROP=attention: cost per image and how often the square moves

Reproduce: `make bench`, which runs
`python bench/attention.py target/release/avatars $CORPUS --repeat {a.repeat} --out BENCHMARKS.md`.
This run: `CORPUS={a.corpus}`. Objective (issue 22): at most 5 % of the render.

{__doc__.split("usage:")[0].strip()}
"""
        replace_section(a.out, "attention", header + "\n" + text)


if __name__ == "__main__":
    main()
