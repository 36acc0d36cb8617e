"""The parse cache: a CSV is parsed once per content, then read back from ``$FER_CACHE_DIR``."""
from __future__ import annotations

import time

import numpy as np
import pytest

from fer_core.data import fer2013 as fer_data_module
from fer_core.data import parse_cache
from fer_core.common.hashing import file_sha256
from fer_core.data.fer2013 import USAGES, DataError
from fer_core.data.parse_cache import CACHE_ENV, cache_path, load_fer2013_cached


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def _csv(path, rows=20, seed=0, bad_row=None):
    """A small FER2013 CSV of random pixels (optionally with one row of 2303 values)."""
    rng = np.random.default_rng(seed)
    lines = ["emotion,pixels,Usage"]
    for i in range(rows):
        count = 2303 if i == bad_row else 2304
        pixels = " ".join(map(str, rng.integers(0, 256, size=count)))
        lines.append(f"{rng.integers(0, 7)},{pixels},{USAGES[i % 3]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _same(a, b):
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.usage, b.usage)
    assert a.images.dtype == b.images.dtype == np.uint8
    assert a.labels.dtype == b.labels.dtype
    assert a.usage.dtype == b.usage.dtype
    assert (a.source, a.skipped, a.problems) == (b.source, b.skipped, b.problems)


def _no_parse(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the CSV was parsed although its cache exists")

    monkeypatch.setattr(parse_cache, "load_csv", refuse)
    monkeypatch.setattr(fer_data_module, "load_csv", refuse)


def test_real_fer2013_through_the_cache_equals_the_plain_load(data_path, fer_data, cache, monkeypatch):
    calls = []
    start = time.perf_counter()
    first = load_fer2013_cached(data_path, progress=lambda done, total: calls.append((done, total)))
    parse_s = time.perf_counter() - start
    _same(first, fer_data)
    assert len(first) == 35887
    target = cache_path(file_sha256(data_path), False)
    assert target.is_file() and [p.name for p in cache.iterdir()] == [target.name]  # no temporary left

    # The progress: rising row counts, an estimate within 10% of the truth all along, exact at the end.
    assert calls[-1] == (35887, 35887)
    dones = [done for done, _ in calls]
    assert dones == sorted(dones) and len(calls) >= 35
    assert all(done <= total and abs(total - 35887) < 3589 for done, total in calls)

    _no_parse(monkeypatch)
    start = time.perf_counter()
    second = load_fer2013_cached(data_path, progress=lambda *a: pytest.fail("progress on a cache hit"))
    read_s = time.perf_counter() - start
    _same(second, fer_data)
    print(f"\nFER2013: parse + cache write {parse_s:.2f} s, cache read (hash included) {read_s:.2f} s")
    assert read_s < parse_s / 2


def test_second_load_reads_the_npz(tmp_path, cache, monkeypatch):
    path = _csv(tmp_path / "small.csv")
    first = load_fer2013_cached(path)
    _no_parse(monkeypatch)
    _same(load_fer2013_cached(path), first)


def test_the_same_content_elsewhere_is_named_by_its_path(tmp_path, cache, monkeypatch):
    path = _csv(tmp_path / "small.csv")
    load_fer2013_cached(path)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    _no_parse(monkeypatch)
    assert load_fer2013_cached(copy).source == str(copy)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other key"])
def test_a_corrupt_or_mismatched_cache_file_is_replaced(tmp_path, cache, damage):
    path = _csv(tmp_path / "small.csv")
    expected = load_fer2013_cached(path)
    target = cache_path(file_sha256(path), False)
    if damage == "garbage":
        target.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:5000])
    else:  # a well-formed npz of another file, under this file's name
        other = _csv(tmp_path / "other.csv", seed=1)
        load_fer2013_cached(other)
        target.write_bytes(cache_path(file_sha256(other), False).read_bytes())
    _same(load_fer2013_cached(path), expected)
    _same(parse_cache.read_cache(target, file_sha256(path), False, str(path)), expected)  # rewritten


def test_different_content_gets_another_key(tmp_path, cache):
    path = _csv(tmp_path / "data.csv", seed=0)
    first = load_fer2013_cached(path)
    _csv(path, seed=1)  # same path, new content
    second = load_fer2013_cached(path)
    assert not np.array_equal(first.images, second.images)
    _same(second, fer_data_module.load_csv(path))
    assert len(list(cache.glob("*.npz"))) == 2


def test_skip_bad_rows_is_part_of_the_key(tmp_path, cache, monkeypatch):
    path = _csv(tmp_path / "bad.csv", bad_row=3)
    with pytest.raises(DataError, match="row 5: pixels has 2303 values"):
        load_fer2013_cached(path)
    assert not list(cache.glob("*.npz"))  # an error is not cached
    skipped = load_fer2013_cached(path, skip_bad_rows=True)
    assert (len(skipped), skipped.skipped) == (19, 1)
    assert skipped.problems == ("row 5: pixels has 2303 values, expected 2304 (48x48)",)
    assert cache_path(file_sha256(path), True).is_file()
    _no_parse(monkeypatch)
    _same(load_fer2013_cached(path, skip_bad_rows=True), skipped)  # skipped rows kept in the cache
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_ENV, str(cache))
    with pytest.raises(DataError):  # the strict load does not reuse the skipping one's cache
        load_fer2013_cached(path)

    good = _csv(tmp_path / "good.csv")
    load_fer2013_cached(good, skip_bad_rows=True)
    load_fer2013_cached(good, skip_bad_rows=False)
    sha = file_sha256(good)
    assert cache_path(sha, True) != cache_path(sha, False)
    assert cache_path(sha, True).is_file() and cache_path(sha, False).is_file()


def test_an_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    path = _csv(tmp_path / "small.csv")
    _same(load_fer2013_cached(path), fer_data_module.load_csv(path))


def test_the_default_cache_dir_is_outside_the_repo(monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert parse_cache.cache_dir() == parse_cache.DEFAULT_CACHE_DIR.expanduser()
    assert str(parse_cache.cache_dir()).endswith(".cache/fer-studio")


def test_progress_of_a_gzip_upload(tmp_path):
    import gzip
    import io

    raw = _csv(tmp_path / "small.csv", rows=3000).read_bytes()
    calls = []
    upload = io.BytesIO(gzip.compress(raw))
    data = fer_data_module.load_csv(upload, source="up.csv.gz", progress=lambda d, t: calls.append((d, t)))
    assert len(data) == 3000 and calls[-1] == (3000, 3000)
    assert calls[0][0] == 1024 and abs(calls[0][1] - 3000) < 100  # the gzip trailer gives the text size
