"""The peer of our avatar processing: Pillow doing the same steps on the
same file — decode, apply the EXIF orientation, centre-crop to a square,
resize to 512 and 128 pixels (Lanczos), encode each as JPEG quality 85
without metadata.

    python bench/pillow_avatar.py IMAGE ITERATIONS

Prints the median milliseconds per image and the process's peak RSS in
bytes (one line: "ms rss").
"""
import io
import statistics
import sys
import time

from PIL import Image, ImageOps


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


def main():
    path, iterations = sys.argv[1], int(sys.argv[2])
    data = open(path, "rb").read()
    process(data)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        process(data)
        times.append((time.perf_counter() - start) * 1000)
    print(f"{statistics.median(times):.3f} {peak_rss()}")


def peak_rss() -> int:
    """This process's peak RSS in bytes (VmHWM: getrusage's ru_maxrss
    would carry the peak of the process that spawned us across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0




if __name__ == "__main__":
    main()
