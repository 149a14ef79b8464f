"""The seekable reader that verifies a stored bundle where it lies: it reads what a file would, for any
seeks and reads, and a whole verification costs a few ranged reads, not one per buffer."""

import io
import zipfile

from hypothesis import given, settings
from hypothesis import strategies as st

from exports.verify import open_ranges


def ranges_of(data, calls, chunk=7):
    def read_range(start, end):
        calls.append((start, end))
        for at in range(start, end + 1, chunk):
            yield data[at : min(at + chunk, end + 1)]

    return read_range


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=300),
    steps=st.lists(st.tuples(st.integers(-10, 320), st.integers(0, 64)), max_size=25),
    buffer_size=st.integers(1, 40),
)
def test_reads_after_any_seeks_equal_a_files(data, steps, buffer_size):
    reader = open_ranges(ranges_of(data, []), len(data), buffer_size=buffer_size)
    plain = io.BytesIO(data)
    for where, count in steps:
        where = max(0, where)
        assert reader.seek(where) == plain.seek(where)
        assert reader.read(count) == plain.read(count)
        assert reader.tell() == plain.tell()


def test_verifying_a_zip_reads_it_in_a_few_ranged_reads():
    written = io.BytesIO()
    with zipfile.ZipFile(written, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for n in range(40):
            archive.writestr(f"content/{n}.bin", bytes([n]) * 5000 + bytes(range(256)) * 20)
    data = written.getvalue()
    calls = []
    with zipfile.ZipFile(open_ranges(ranges_of(data, calls, chunk=4096), len(data), buffer_size=1024)) as archive:
        for info in archive.infolist():
            assert archive.read(info.filename) == bytes([int(info.filename[8:-4])]) * 5000 + bytes(range(256)) * 20
    assert len(calls) <= 4, calls
