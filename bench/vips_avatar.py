"""The fastest peer of our avatar processing: libvips (pyvips with the
pyvips-binary wheel) doing the same steps on the same file. `thumbnail`
decodes with shrink-on-load (JPEG's scaled IDCT), applies the EXIF
orientation, centre-crops to a square and resizes (Lanczos 3); the 128-pixel
rendition is made from the 512 one, as ours is; each is encoded as JPEG
quality 85 without metadata.

    python bench/vips_avatar.py IMAGE ITERATIONS

Prints the median milliseconds per image (warm: the first run is not
timed), the process's peak RSS in bytes and the median milliseconds of the
decode alone, timed interleaved with the whole (one line: "ms rss
decode_ms"). The decode alone uses the shrink-on-load `thumbnail` picks,
into memory: it is the floor under any pipeline built on a decoder as fast
as libjpeg-turbo (libpng for PNGs), so the `avatar` bench prints the whole
over it as the most such a pipeline could lead libvips by.
"""
import pyvips

import avatar_peer

# One image at a time, as a Lambda invocation would; no operation cache.
pyvips.cache_set_max(0)


def process(data: bytes) -> list:
    large = pyvips.Image.thumbnail_buffer(data, 512, height=512, crop="centre", size="both")
    out = [large.jpegsave_buffer(Q=85, keep="none")]
    small = large.thumbnail_image(128, height=128, crop="centre", size="both")
    out.append(small.jpegsave_buffer(Q=85, keep="none"))
    return out


def decode_only(data: bytes):
    header = pyvips.Image.new_from_buffer(data, "")
    if header.get("vips-loader").startswith("jpegload"):
        short = min(header.width, header.height)
        shrink = max(s for s in (1, 2, 4, 8) if short // s >= 512 or s == 1)
        image = pyvips.Image.jpegload_buffer(data, shrink=shrink)
    else:
        image = pyvips.Image.new_from_buffer(data, "")
    return image.copy_memory()


if __name__ == "__main__":
    avatar_peer.run(process, decode_only)
