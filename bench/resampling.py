"""`make bench`'s resampling table (issue 22 §4): how close is each engine's
300 px avatar to one made the slow way?

The reference, for every image of CORPUS_DIR and every HEIC/AVIF test file
of `fixtures/heif/`: the whole image decoded at full size (Pillow; HEIF
through Debian's `heif-convert`), EXIF orientation applied, its profile
converted to sRGB (Little CMS through `ImageCms`, relative colorimetric),
alpha composited on white, then the exact centred square — a sub-pixel box
where the sides differ by an odd number — resampled to 300 px with Lanczos3
in 32-bit float per channel, rounded once at the end. No shrink-on-load, no
8-bit intermediate.

Each engine makes its 300 px cover-cropped thumbnail of the same file as a
PNG (alpha composited on white before comparing): this project (`avatars
render`), libvips (`thumbnail`, `export_profile="srgb"`: shrink-on-load,
then its own reduce), Pillow as the thumbnails table runs it (JPEG draft
mode — its DCT-domain shrink-on-load — then `ImageOps.fit`, Lanczos, with
`ImageCms`). The table gives SSIM (Wang et al. 2004: 11×11 Gaussian window,
σ 1.5, on BT.601 luma; 1 = identical) and the mean CIEDE2000 against the
reference. An engine that cannot read a file shows "—".

usage: python resampling.py AVATARS_BINARY CORPUS_DIR HEIF_DIR [--out BENCHMARKS.md]
"""
import argparse
import io
import os
import platform
import subprocess
import tempfile

import numpy as np

from quality import avatars, ciede2000, pixels, srgb_to_lab, vips
from report import replace_section

SIDE = 300
INPUTS = (".jpg", ".png", ".webp", ".heic", ".avif")


def ssim(a, b):
    """Mean SSIM of two equal-sized 8-bit RGB arrays, on BT.601 luma."""
    def luma(x):
        return x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])

    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()

    def blur(x):  # separable Gaussian, 'valid' region only
        x = np.lib.stride_tricks.sliding_window_view(x, 11, axis=0) @ g
        return np.lib.stride_tricks.sliding_window_view(x, 11, axis=1) @ g

    x, y = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def full_decode(path, work):
    """The whole image as a Pillow image, upright, in sRGB (RGB or RGBA)."""
    from PIL import Image
    if path.lower().endswith((".heic", ".avif")):
        # libheif applies irot/imir, assembles grids and writes the ICC
        # profile into the PNG; it drops an nclx box (see P3_NCLX).
        png = os.path.join(work, os.path.basename(path) + ".png")
        subprocess.run(["heif-convert", path, png], check=True, capture_output=True)
        path = png
    im = Image.open(path)
    im.load()
    icc = im.info.get("icc_profile")
    if icc is None and os.path.basename(path).startswith(P3_NCLX):
        icc = display_p3()
    return upright_srgb(im, icc)


def upright_srgb(im, icc):
    """`im` (a Pillow image whose ICC profile is `icc`, or None) turned
    upright by its EXIF orientation and converted to sRGB (RGB or RGBA)."""
    from PIL import ImageCms, ImageOps
    im = ImageOps.exif_transpose(im)
    mode = "RGBA" if im.mode in ("RGBA", "LA", "P", "PA") else "RGB"
    im = im.convert(mode)
    if icc:
        im = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                       ImageCms.createProfile("sRGB"), outputMode=mode)
    return im


# The one test file whose colour is described by an nclx box alone (Display
# P3, CICP 12/13/1): heif-convert does not carry nclx into the PNG, so the
# reference is given libvips' built-in Display P3 profile for it.
P3_NCLX = "avif_p3_nclx"


def display_p3():
    import pyvips
    return pyvips.Image.black(1, 1, bands=3).icc_transform("p3", input_profile="srgb").get("icc-profile-data")


def reference(path, work):
    """The slow way (module doc): 8-bit RGB array, SIDE×SIDE or the short side."""
    from PIL import Image
    im = full_decode(path, work)
    w, h = im.size
    short = min(w, h)
    side = min(SIDE, short)
    box = ((w - short) / 2, (h - short) / 2, (w + short) / 2, (h + short) / 2)
    planes = [np.asarray(c, dtype=np.float32) for c in im.split()]
    if len(planes) == 4:  # composite on white, in float, before filtering
        a = planes[3] / 255.0
        planes = [p * a + 255.0 * (1.0 - a) for p in planes[:3]]
    out = [np.asarray(Image.fromarray(p, "F").resize((side, side), Image.LANCZOS, box=box)) for p in planes]
    return np.clip(np.rint(np.stack(out, axis=-1)), 0, 255).astype(np.uint8)


def pillow_fast(path):
    """Pillow as the thumbnails table runs it (peers.py), with ImageCms."""
    from PIL import Image, ImageOps
    im = Image.open(path)
    if im.format == "JPEG":
        im.draft("RGB", (SIDE, SIDE))
    im = upright_srgb(im, im.info.get("icc_profile"))
    side = min(SIDE, im.width, im.height)
    out = io.BytesIO()
    ImageOps.fit(im, (side, side), Image.LANCZOS).save(out, "PNG")
    return out.getvalue()


def readable(engine, path):
    """Whether an engine reads this format here (see the module doc)."""
    ext = os.path.splitext(path)[1].lower()
    return {"avatars": True, "libvips": ext != ".heic", "Pillow": ext not in (".heic", ".avif")}[engine]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("corpus")
    ap.add_argument("heif")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    files = [os.path.join(d, f) for d in (a.corpus, a.heif) for f in sorted(os.listdir(d))
             if f.lower().endswith(INPUTS)]
    work = tempfile.mkdtemp(prefix="avatars-resampling-")
    engines = {"avatars": lambda p: avatars(a.binary, p, work), "libvips": vips, "Pillow": pillow_fast}
    rows = []  # (file, {engine: (ssim, dE) or None})
    for f in files:
        ref = reference(f, work)
        ref_lab = srgb_to_lab(ref)
        scores = {}
        for e, render in engines.items():
            if not readable(e, f):
                scores[e] = None
                continue
            got = pixels(render(f))
            if got.shape != ref.shape:
                raise SystemExit(f"{e} made {got.shape} for {f}, the reference is {ref.shape}")
            scores[e] = (ssim(got, ref), float(ciede2000(srgb_to_lab(got), ref_lab).mean()))
        rows.append((os.path.basename(f), scores))
        print(os.path.basename(f) + ": " + ", ".join(
            f"{e} {'—' if s is None else f'{s[0]:.4f}/{s[1]:.2f}'}" for e, s in scores.items()), flush=True)

    def cell(s, i, fmt, bold=False):
        if s is None:
            return "—"
        text = format(s[i], fmt)
        return f"**{text}**" if bold else text

    lines = ["| file | SSIM avatars | SSIM libvips | SSIM Pillow | ΔE avatars | ΔE libvips | ΔE Pillow "
             "| avatars − libvips SSIM |", "|---|---|---|---|---|---|---|---|"]
    gaps = []
    for name, s in rows:
        gap = None
        if s["libvips"] is not None:
            gap = s["avatars"][0] - s["libvips"][0]
            gaps.append((gap, name))
        lines.append(f"| {name} | {cell(s['avatars'], 0, '.4f', True)} | {cell(s['libvips'], 0, '.4f')} "
                     f"| {cell(s['Pillow'], 0, '.4f')} | {cell(s['avatars'], 1, '.2f', True)} "
                     f"| {cell(s['libvips'], 1, '.2f')} | {cell(s['Pillow'], 1, '.2f')} "
                     f"| {'—' if gap is None else f'{gap:+.4f}'} |")
    means = {e: [np.mean([s[e][i] for _, s in rows if s[e] is not None]) for i in (0, 1)] for e in engines}
    lines.append("| mean (over the files each engine reads) | " + " | ".join(
        f"{means[e][0]:.4f}" for e in engines) + " | " + " | ".join(f"{means[e][1]:.2f}" for e in engines) + " | |")
    worst, worst_name = min(gaps)
    text = "\n".join(lines)
    print(text)
    print(f"worst SSIM gap to libvips: {worst:+.4f} ({worst_name}; objective: >= -0.005)")
    if a.out:
        import pyvips
        import PIL
        header = f"""## Resampling: SSIM and CIEDE2000 against a slow reference

Reproduce: `make bench`, which runs
`python bench/resampling.py target/release/avatars $CORPUS fixtures/heif --out BENCHMARKS.md`.
This run: `CORPUS={a.corpus}` and the HEIC/AVIF test files, {len(rows)} images.

{__doc__.split("usage:")[0].strip()}

Objective (issue 22): SSIM within 0.005 of libvips on every input that
libvips reads. Worst gap in this run: **{worst:+.4f}** (`{worst_name}`).

Machine: {platform.machine()}, {platform.platform()}; libvips
{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, Pillow {PIL.__version__}.
"""
        replace_section(a.out, "resampling", header + "\n" + text)


if __name__ == "__main__":
    main()
