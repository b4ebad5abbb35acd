"""ffmpeg's -progress output parsed into percentages reported at most every so often (pure)."""

from __future__ import annotations

from converter_job.progress import ProgressParser, Throttle, ThrottledReporter, percent

# what `ffmpeg -progress pipe:1` writes: blocks of key=value ending with progress=continue|end
FFMPEG_PROGRESS = """\
bitrate=N/A
total_size=44
out_time_us=N/A
out_time_ms=N/A
out_time=N/A
speed=N/A
progress=continue
bitrate=192.1kbits/s
total_size=96000
out_time_us=4000000
out_time_ms=4000000
out_time=00:00:04.000000
speed=85.2x
progress=continue
out_time_us=10000000
progress=end
"""


def test_parser_yields_seconds_at_the_end_of_each_block() -> None:
    parser = ProgressParser()
    seen = [s for line in FFMPEG_PROGRESS.splitlines() if (s := parser.feed(line)) is not None]
    assert seen == [0.0, 4.0, 10.0]


def test_percent_stays_below_100_until_the_mp3_is_stored() -> None:
    assert [percent(s, 10.0) for s in (0, 2.5, 9.99, 10, 12)] == [0, 25, 99, 99, 99]
    assert percent(3, None) == 0 and percent(3, 0) == 0  # unknown length: no made-up numbers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttle_lets_a_changed_value_through_at_most_once_per_interval() -> None:
    clock = Clock()
    throttle = Throttle(1.0, clock)
    assert throttle.ready(5)
    clock.now = 0.5
    assert not throttle.ready(7)  # too soon
    clock.now = 1.2
    assert throttle.ready(7)
    clock.now = 5.0
    assert not throttle.ready(7)  # unchanged: nothing to say


def test_reporter_turns_seconds_into_throttled_percentages() -> None:
    sent: list[int] = []

    class Sink:
        def report(self, value: int) -> None:
            sent.append(value)

    report = ThrottledReporter(Sink(), total_seconds=10.0, interval=0.0)
    for seconds in (0.0, 0.01, 5.0, 5.02, 9.0):
        report(seconds)
    assert sent == [0, 50, 90]
    ThrottledReporter(None, 10.0, 0.0)(5.0)  # no API to report to (run outside a pod): no error
