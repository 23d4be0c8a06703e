"""Reading photos ahead in the workers: in order, concurrently, within a budget of bytes; local and S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from bench.memory import twelve_megapixel_jpeg
from pipeline.storage.fetch import AHEAD_PER_THREAD, read_ahead, read_photo
from tests.conftest import REPO, s3_test_environment


class Recorder:
    """A reader of fake photos that records the bytes started and not yet handed over, and the reads at once."""

    def __init__(self, sizes: dict[str, int], seconds: float = 0.0) -> None:
        self.sizes, self.seconds = sizes, seconds
        self.started: list[str] = []
        self.handed: set[str] = set()
        self.held_at_start: dict[str, int] = {}
        self.at_once = self.most_at_once = 0
        self.lock = threading.Lock()

    def read(self, path: str) -> bytes:
        with self.lock:
            self.started.append(path)
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
            self.held_at_start[path] = sum(self.sizes[p] for p in self.started if p not in self.handed)
        time.sleep(self.seconds)
        with self.lock:
            self.at_once -= 1
        if path.endswith("missing"):
            raise FileNotFoundError(2, "No such file or directory")
        return path.encode()

    def consume(self, reads) -> list:
        handed = []
        for item in reads:
            handed.append(item)
            with self.lock:
                self.handed.add(item[0])
        return handed


def test_photos_come_back_in_order_and_a_failed_read_gets_its_reason():
    sizes = {f"p{i}": 10 for i in range(50)} | {"p7-missing": 10}
    order = sorted(sizes)
    recorder = Recorder(sizes, seconds=0.02)  # long beside a thread's start, even on a busy machine
    handed = recorder.consume(read_ahead([(p, sizes[p]) for p in order], recorder.read, threads=4, window_bytes=1000))
    assert [path for path, _, _ in handed] == order
    for path, content, error in handed:
        if path.endswith("missing"):
            assert content is None and error == "cannot read: No such file or directory"
        else:
            assert content == path.encode() and error is None
    assert recorder.most_at_once > 1  # the reads overlapped


def test_reading_ahead_stays_within_the_window_of_bytes():
    sizes = {f"p{i:02}": size for i, size in enumerate([30, 10, 10, 100, 10, 40, 40, 40, 5, 5, 5, 5] * 3)}
    recorder = Recorder(sizes, seconds=0.01)
    handed = recorder.consume(read_ahead(sorted(sizes.items()), recorder.read, threads=8, window_bytes=60))
    assert [path for path, _, _ in handed] == sorted(sizes)
    big = {path for path, size in sizes.items() if size == 100}
    assert {recorder.held_at_start[path] for path in big} == {100}  # larger than the window: read alone
    assert 40 < max(held for path, held in recorder.held_at_start.items() if path not in big) <= 60


def test_many_small_photos_are_bounded_in_number():
    sizes = {f"p{i:04}": 1 for i in range(1000)}
    recorder = Recorder(sizes)
    reads = read_ahead(sorted(sizes.items()), recorder.read, threads=2, window_bytes=1 << 30)
    next(reads)
    time.sleep(0.05)
    assert len(recorder.started) <= AHEAD_PER_THREAD * 2 + 1


def test_local_files_are_read_by_their_file_uri(tmp_path):
    (tmp_path / "a #1%.jpg").write_bytes(b"jpeg")
    assert read_photo(f"file:{tmp_path}/a #1%.jpg") == b"jpeg"
    with pytest.raises(OSError):
        read_photo(f"file:{tmp_path}/gone.jpg")


def test_s3_objects_are_read_concurrently_through_the_real_client(delay_proxy, monkeypatch, sample_photo):
    """botocore's pool against a stand-in with 250 ms per request and a 503 on every 12th GET.

    The wait is long beside the client's own work per request (signing, and a first connection per
    thread: a few ms each, more on a busy machine), so overlapping reads show whatever the machine's speed.
    """
    proxy = delay_proxy
    s3_test_environment(monkeypatch, proxy.endpoint)
    from pipeline.storage import s3

    client = s3.client()
    client.create_bucket(Bucket="reads", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    keys = [f"Kiwi/{i} #{i}?.jpg" for i in range(24)]
    for key in keys:
        client.put_object(Bucket="reads", Key=key, Body=sample_photo)
    proxy.reset_counts()
    proxy.delay_s, proxy.fail_every = 0.25, 12
    photos = [(f"s3://reads/{key}", len(sample_photo)) for key in keys] + [("s3://reads/Kiwi/gone.jpg", 10)]
    handed = list(read_ahead(photos))
    assert [content for _, content, _ in handed[:-1]] == [sample_photo] * len(keys)
    assert handed[-1][1] is None and handed[-1][2].startswith("cannot read: NoSuchKey")
    assert proxy.refused >= 2 and proxy.gets == len(photos) + proxy.refused  # each 503 was retried
    assert proxy.most_held > 4  # many GETs waited at once: the pool and the threads overlap them


MEMORY_PROBE = """
import json, os, sys, threading, time
import numpy as np
from pipeline.job.featurize import featurize_stream, rows_per_frame
from pipeline.storage.fetch import read_ahead

def resident():
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def grown(window, photos):
    \"\"\"How much more memory than before the reading and decoding of `photos` took at its peak.\"\"\"
    before, peak, done = resident(), [0], threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], resident())
            time.sleep(0.002)
    sampler = threading.Thread(target=sample)
    sampler.start()
    frames = list(featurize_stream(read_ahead(photos, window_bytes=window), embed, 224, rows_per_frame(224)))
    done.set()
    sampler.join()
    assert sum(len(f) for f in frames) == len(photos)
    return peak[0] - before

embed = lambda images: np.zeros((len(images), 1280), np.float32)
window, paths = int(sys.argv[1]), sys.argv[2:]
photos = [(p, os.path.getsize(p.removeprefix("file:"))) for p in paths]
grown(window, photos[:2])  # imports, thread pool, decoder: warm
print(json.dumps({"bounded": grown(window, photos), "unbounded": grown(sum(s for _, s in photos), photos)}))
"""


def test_twelve_megapixel_photos_are_read_and_decoded_within_the_window(tmp_path):
    """The workers' reading and decoding path, in a fresh process: its memory follows the window, not
    the photos (16 phone photos of about 8 MB: 126 MB). Reading them all ahead shows what is avoided."""
    photo = tmp_path / "big.jpg"
    photo.write_bytes(twelve_megapixel_jpeg())
    size = photo.stat().st_size
    paths = []
    for index in range(16):  # hard links: 16 photos to read, one file's disk space
        os.link(photo, tmp_path / f"{index}.jpg")
        paths.append(f"file:{tmp_path}/{index}.jpg")
    window = 2 * size
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(window), *paths], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    grown = json.loads(done.stdout)
    print(f"12 MP photos of {size / 1e6:.1f} MB, window {window / 1e6:.1f} MB: grew {grown}")
    assert size > 6_000_000
    assert grown["bounded"] < window + size + 32_000_000  # the window, the photo being decoded, its pixels
    assert grown["unbounded"] > 8 * size  # the measure sees photos held: without the window, most are
