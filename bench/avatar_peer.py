"""What the avatar peers share: the timing harness and the peak RSS.

    python bench/<peer>_avatar.py IMAGE ITERATIONS

prints the median milliseconds per image (warm: the first run is not
timed) and the process's peak RSS in bytes (one line: "ms rss").
"""
import statistics
import sys
import time


def peak_rss() -> int:
    """This process's peak RSS in bytes (VmHWM: getrusage's ru_maxrss
    would carry the peak of the process that spawned us across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def run(process) -> None:
    path, iterations = sys.argv[1], int(sys.argv[2])
    data = open(path, "rb").read()
    process(data)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        process(data)
        times.append((time.perf_counter() - start) * 1000)
    print(f"{statistics.median(times):.3f} {peak_rss()}")
