"""`make bench`, HEIC and AVIF part: phone-sized HEIC and AVIF copies of
corpus photos through the avatar job, this project vs libvips on AVIF (both
decode with libheif: Debian's here, the one pyvips-binary bundles there,
which has no HEVC decoder — so no peer for HEIC), in the same run, pinned
to one core, with peak RSS. Pillow reads neither without a plugin.

Inputs, made here from CORPUS_DIR's photos (the `*_photo_*` JPEGs and
WebPs, at their own size) with Debian's encoders, as a phone writes them:
HEIC with `heif-enc -q 50` (x265, 8-bit 4:2:0) and AVIF with `avifenc
--speed 8 --min 20 --max 40 -d 10` (libaom, 10-bit). No embedded thumbnail
image (neither encoder writes one by default), so no engine can skip the
full decode: HEIF has no shrink-on-load.

usage: python heif.py AVATARS_BINARY CORPUS_DIR [--repeat N] [--out BENCHMARKS.md]
"""
import os
import statistics
import subprocess
import tempfile

from bench import arguments, engine_cmd, peak_rss, rss_line, run
from report import replace_section

JOBS = [("100+300", "100,300")]
ENGINES = ["avatars", "vips"]


def heif_copies(corpus, into):
    """(format, path) of a HEIC and an AVIF copy of each photo of `corpus`."""
    out = []
    for name in sorted(os.listdir(corpus)):
        stem, ext = os.path.splitext(name)
        if "_photo_" not in name or ext.lower() not in (".jpg", ".webp") or "exif" in name:
            continue
        src = os.path.join(corpus, name)
        png = os.path.join(into, stem + ".png")
        # Both encoders read PNG; libvips writes it (the photo's pixels).
        import pyvips
        pyvips.Image.new_from_file(src).pngsave(png, compression=1)
        heic = os.path.join(into, stem + ".heic")
        subprocess.run(["heif-enc", "-q", "50", "-o", heic, png], check=True, capture_output=True)
        avif = os.path.join(into, stem + ".avif")
        subprocess.run(["avifenc", "--jobs", "2", "--speed", "8", "--min", "20", "--max", "40", "-d", "10",
                        png, avif], check=True, capture_output=True)
        out += [("heic", heic), ("avif", avif)]
    return out


def main():
    a = arguments()
    work = tempfile.mkdtemp(prefix="avatars-heif-")
    files = heif_copies(a.corpus, work)
    paths = [p for _, p in files]
    # The peer reads AVIF only (see above).
    peer_files = {"avatars": paths, "vips": [p for f, p in files if f == "avif"]}
    largest = max(peer_files["vips"], key=os.path.getsize)
    out = tempfile.mkdtemp(dir=work)
    lines = []
    for job, sizes in JOBS:
        ms = {e: {r["file"]: r["ms"] for r in run(engine_cmd(e, a.binary, sizes, a.repeat, peer_files[e], out))}
              for e in ENGINES}
        rss = {e: peak_rss(engine_cmd(e, a.binary, sizes, 1, [largest], out)) for e in ENGINES}
        lines.append(f"\n### Job {job} (JPEG q85 outputs), ms/image, fastest of {a.repeat} runs\n")
        lines.append("| inputs | n | avatars | libvips | avatars / libvips |")
        lines.append("|---|---|---|---|---|")
        for fmt in ["heic", "avif"]:
            fs = [p for f, p in files if f == fmt]
            mine = statistics.fmean(ms["avatars"][p] for p in fs)
            if fmt == "heic":
                lines.append(f"| heic | {len(fs)} | {mine:.1f} | no HEVC decoder | — |")
                continue
            peer = statistics.fmean(ms["vips"][p] for p in fs)
            lines.append(f"| {fmt} | {len(fs)} | {mine:.1f} | {peer:.1f} | **{mine / peer:.2f}** |")
        lines.append(rss_line(largest, rss, "libvips' includes the Python interpreter"))
        lines.append("<details><summary>per file, ms</summary>\n")
        lines.append("| file | avatars | libvips |")
        lines.append("|---|---|---|")
        for p in paths:
            peer = ms["vips"].get(p)
            lines.append(f"| {os.path.basename(p)} | {ms['avatars'][p]:.1f} | "
                         f"{'—' if peer is None else f'{peer:.1f}'} |")
        lines.append("\n</details>")
    text = "\n".join(lines)
    print(text)
    if a.out:
        import pyvips
        header = f"""## HEIC and AVIF: avatars vs libvips

Reproduce: `make bench`, which runs
`python bench/heif.py target/release/avatars $CORPUS --repeat {a.repeat} --out BENCHMARKS.md`.
Inputs: a HEIC (`heif-enc -q 50`, x265) and a 10-bit AVIF (`avifenc --speed 8
--min 20 --max 40 -d 10`, libaom) copy of each photo of `CORPUS={a.corpus}`,
at the photo's own size, without embedded thumbnails. The job and timing are
those of the thumbnails table: one process per engine pinned to one core; libvips
does one `thumbnail_buffer` per size, so it decodes each file twice where this
project decodes it once (neither can shrink a HEIF on load). Both decode with
libheif: Debian 12's 1.15 (libde265, dav1d) here, pyvips-binary's own bundle
for libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, which
has no HEVC decoder (patents), so HEIC has no peer here.
"""
        replace_section(a.out, "heif", header + text)


if __name__ == "__main__":
    main()
