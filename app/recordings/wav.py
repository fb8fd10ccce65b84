"""The RIFF/WAVE header of a recording track: PCM16 mono, 24 kHz (the relay's format both ways).

The header is written last (its sizes are known only when the track ends) but committed first: the
track's audio is staged block by block while the session runs, and the header becomes the first
block of the committed list (see `app.recordings.store`).
"""

from __future__ import annotations

import struct

SAMPLE_RATE_HZ = 24_000
CHANNELS = 1
BITS_PER_SAMPLE = 16
BYTES_PER_SECOND = SAMPLE_RATE_HZ * CHANNELS * BITS_PER_SAMPLE // 8
HEADER_BYTES = 44
#: RIFF sizes are 32-bit: a track stops growing below this (about 24 hours at 48 kB/s).
MAX_DATA_BYTES = 0xFFFFFFFF - HEADER_BYTES


def header(data_bytes: int) -> bytes:
    """The 44-byte canonical header for `data_bytes` of PCM16 audio."""
    if not 0 <= data_bytes <= MAX_DATA_BYTES:
        raise ValueError(f"a WAV data chunk holds 0..{MAX_DATA_BYTES} bytes, not {data_bytes}")
    block_align = CHANNELS * BITS_PER_SAMPLE // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,  # PCM fmt chunk size
        1,  # WAVE_FORMAT_PCM
        CHANNELS,
        SAMPLE_RATE_HZ,
        BYTES_PER_SECOND,
        block_align,
        BITS_PER_SAMPLE,
        b"data",
        data_bytes,
    )


def duration_ms(data_bytes: int) -> int:
    return data_bytes * 1000 // BYTES_PER_SECOND
