"""The fastest peer of our avatar processing: libvips (pyvips with the
pyvips-binary wheel) doing the same steps on the same file. `thumbnail`
decodes with shrink-on-load (JPEG's scaled IDCT), applies the EXIF
orientation, centre-crops to a square and resizes (Lanczos 3); the 128-pixel
rendition is made from the 512 one, as ours is; each is encoded as JPEG
quality 85 without metadata.

    python bench/vips_avatar.py IMAGE ITERATIONS

Prints the median milliseconds per image (warm: the first run is not
timed) and the process's peak RSS in bytes (one line: "ms rss").
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


if __name__ == "__main__":
    avatar_peer.run(process)
