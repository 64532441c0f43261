"""Reading mono's own output in the benchmarks: mono.log's clock and
init's `in 1.234s` figures (monolog::format_elapsed)."""
import sys


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def elapsed_s(text):
    """`391ms`, `1.234s`, `0s` (monolog::format_elapsed) in seconds."""
    if text.endswith("ms"):
        return int(text[:-2]) / 1000
    return float(text[:-1])


def clock_s(line):
    """The local time `[14:32:05.123]` at the start of a mono.log line, in seconds since midnight."""
    h, m, s = line[1:13].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)
