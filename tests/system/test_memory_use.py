"""The worker's memory split: read from /proc/self/status, kept at the highest total."""

import mmap
import sys
import time

import psutil
import pytest

from llm_compare.system.memory_use import MemoryReading, PeakMemorySampler, read_memory

MIB = 1024 * 1024
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/status is Linux's")


def test_a_status_file_gives_anonymous_and_shared_memory_as_private_and_mapped_files_apart(tmp_path):
    status = tmp_path / "status"
    status.write_text(
        "Name:\tpython\nVmHWM:\t  9000 kB\nVmRSS:\t  7000 kB\n"
        "RssAnon:\t  5000 kB\nRssFile:\t  1996 kB\nRssShmem:\t     4 kB\n"
    )
    assert read_memory(str(status)) == MemoryReading(7000 * 1024, 5004 * 1024, 1996 * 1024)


def test_no_status_file_or_one_without_the_split_reads_as_nothing(tmp_path):
    assert read_memory(str(tmp_path / "missing")) is None
    old_kernel = tmp_path / "status"
    old_kernel.write_text("VmRSS:\t  7000 kB\n")
    assert read_memory(str(old_kernel)) is None


@linux_only
def test_the_reading_agrees_with_psutil_and_sees_a_mapped_file_as_file_memory(tmp_path):
    assert read_memory().rss_bytes == pytest.approx(psutil.Process().memory_info().rss, abs=2 * MIB)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\1" * (32 * MIB))
    before = read_memory()
    with open(weights, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        sum(mapped[i] for i in range(0, len(mapped), mmap.PAGESIZE))  # touch every page
        mapped_reading = read_memory()
    assert mapped_reading.file_bytes - before.file_bytes == pytest.approx(32 * MIB, abs=4 * MIB)
    assert abs(mapped_reading.private_bytes - before.private_bytes) < 4 * MIB


def test_the_peak_is_the_split_at_the_highest_total_not_each_parts_own_maximum():
    readings = iter(
        [
            MemoryReading(100, 30, 70),  # a checkpoint mapped during loading
            MemoryReading(140, 120, 20),  # converted: the highest total
            MemoryReading(130, 125, 5),  # more private memory, less in all
        ]
    )
    sampler = PeakMemorySampler(read=lambda: next(readings), interval_s=3600).start()
    sampler.sample()
    sampler.sample()
    sampler.stop()
    assert sampler.peak == MemoryReading(140, 120, 20)


def test_the_thread_catches_a_spike_between_two_readings_asked_for():
    spike_until = time.monotonic() + 0.3

    def read():
        return MemoryReading(200, 50, 150) if time.monotonic() < spike_until else MemoryReading(100, 90, 10)

    sampler = PeakMemorySampler(read=read, interval_s=0.01)
    sampler.start()
    time.sleep(0.5)
    sampler.sample()
    sampler.stop()
    assert sampler.peak == MemoryReading(200, 50, 150)


def test_where_nothing_can_be_read_no_thread_starts_and_the_peak_is_empty():
    sampler = PeakMemorySampler(read=lambda: None).start()
    assert sampler._thread is None and sampler.peak is None
    sampler.stop()
