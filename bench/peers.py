"""Benchmark peers for `make bench`: libvips (pyvips.thumbnail_buffer) and
Pillow doing the avatar job, timed in-process like `avatars render --repeat`.

usage: python peers.py vips|vips-srgb|pillow SIZES REPEAT FILE...
prints one JSON line per file: {"file", "ms"} (fastest of REPEAT runs),
excluding file reads, as the project's CLI measures itself.

The job for each size S: decode (shrink-on-load where the library has it),
EXIF orientation, S x S centre ("cover") crop, JPEG q85 without metadata.
`vips-srgb` also converts an embedded ICC profile's colours to sRGB
(`export_profile="srgb"`), as the project does.
"""
import io
import json
import sys
import time


def vips_job(data, sizes, **colour):
    import pyvips
    outs = []
    for s in sizes:
        # One thumbnail_buffer per size: libvips' own shrink-on-load,
        # auto-rotate, centre crop; never upscaled (size="down").
        im = pyvips.Image.thumbnail_buffer(data, s, height=s, crop="centre", size="down", **colour)
        if im.hasalpha():
            im = im.flatten(background=[255, 255, 255])
        outs.append(im.jpegsave_buffer(Q=85, keep="none"))
    return outs


def pillow_job(data, sizes):
    from PIL import Image, ImageOps
    im = Image.open(io.BytesIO(data))
    biggest = max(sizes)
    if im.format == "JPEG":
        im.draft("RGB", (biggest, biggest))  # DCT-domain shrink-on-load
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        flat = Image.new("RGB", im.size, (255, 255, 255))
        flat.paste(im, mask=im.getchannel("A"))
        im = flat
    elif im.mode != "RGB":
        im = im.convert("RGB")
    outs = []
    for s in sorted(sizes, reverse=True):
        side = min(s, im.width, im.height)
        out = ImageOps.fit(im, (side, side), Image.LANCZOS)
        buf = io.BytesIO()
        out.save(buf, "JPEG", quality=85)
        outs.append(buf.getvalue())
    return outs


def main():
    engine, sizes, repeat, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    sizes = [int(s) for s in sizes.split(",")]
    job = {"vips": vips_job, "pillow": pillow_job,
           "vips-srgb": lambda data, sizes: vips_job(data, sizes, export_profile="srgb")}[engine]
    if engine.startswith("vips"):
        import pyvips
        pyvips.cache_set_max(0)  # no result cache between runs
        pyvips.concurrency_set(1)
    for f in files:
        data = open(f, "rb").read()
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            job(data, sizes)
            best = min(best, (time.perf_counter() - t) * 1000)
        print(json.dumps({"file": f, "ms": best}), flush=True)


if __name__ == "__main__":
    main()
