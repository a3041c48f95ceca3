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


def run(process, step=None) -> None:
    """Times `process` (and `step`, a part of it, interleaved with it so
    that both see the machine in the same state: its median is printed
    third)."""
    path, iterations = sys.argv[1], int(sys.argv[2])
    data = open(path, "rb").read()
    process(data)
    times, step_times = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        process(data)
        times.append((time.perf_counter() - start) * 1000)
        if step is not None:
            start = time.perf_counter()
            step(data)
            step_times.append((time.perf_counter() - start) * 1000)
    line = f"{statistics.median(times):.3f} {peak_rss()}"
    if step is not None:
        line += f" {statistics.median(step_times):.3f}"
    print(line)
