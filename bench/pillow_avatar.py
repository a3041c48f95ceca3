"""The peer of our avatar processing: Pillow doing the same steps on the
same file — decode, apply the EXIF orientation, centre-crop to a square,
resize to 512 and 128 pixels (Lanczos), encode each as JPEG quality 85
without metadata.

    python bench/pillow_avatar.py IMAGE ITERATIONS

Prints the median milliseconds per image and the process's peak RSS in
bytes (one line: "ms rss").
"""
import io

from PIL import Image, ImageOps

import avatar_peer


def process(data: bytes) -> list:
    image = Image.open(io.BytesIO(data))
    image = ImageOps.exif_transpose(image)
    image = image.convert("RGB")
    side = min(image.size)
    left = (image.width - side) // 2
    top = (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    out = []
    source = square
    for target in (512, 128):
        source = source.resize((target, target), Image.LANCZOS)
        buf = io.BytesIO()
        source.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


if __name__ == "__main__":
    avatar_peer.run(process)
