"""Reading TensorBoard event files back, record by record (the TFRecord framing)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from tensorboardX.proto import event_pb2


def read_events(directory: Path) -> list[Any]:
    """Every event in the event files of ``directory`` (length, crc, data, crc per record)."""
    events = []
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            payload = data[offset + 12 : offset + 12 + length]
            offset += 12 + length + 4
            event = event_pb2.Event()
            event.ParseFromString(payload)
            events.append(event)
    return events


def scalars(directory: Path, tag: str) -> list[tuple[int, float]]:
    """The ``(step, value)`` points of ``tag`` in the event files of ``directory``."""
    return [
        (event.step, value.simple_value)
        for event in read_events(directory)
        for value in event.summary.value
        if value.tag == tag
    ]
