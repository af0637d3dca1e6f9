"""No size or count read from a file drives an allocation beyond a bound from the record's
own size (contract.md, data safety; issue 17, item 2)."""

from __future__ import annotations

import tracemalloc

from tbtool import storage

FILE_NAME = "events.out.tfevents.1700000000.crafted"


def test_a_read_allocates_no_more_than_the_file_holds(tmp_path):
    """A record length from the file asks for up to 2 GiB; the buffer is what is there."""
    path = tmp_path / FILE_NAME
    path.write_bytes(bytes(100))
    with storage.open_input(path) as f:
        f.read(10)
        tracemalloc.start()
        try:
            data = f.read(2**31)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert data == bytes(90) and f.read(2**31) == b""
    assert peak < 1 << 16
