"""Fuzzing the chat socket: whatever frames a client sends, the consumer answers each with
a frame of the protocol, never fails inside (no ``internal_error``) and stays open.

Hypothesis writes sequences of frames: JSON text of any shape, objects built from the
protocol's own frame types and field names with values of every JSON type (ids of other
rows, huge numbers, nested lists), and raw bytes. Each sequence goes down one signed-in
socket on the real ASGI application (channels' WebsocketCommunicator) and ends with a ping;
the pong proves every frame before it was handled. Frames that happen to be valid start real
generations against the session's emulator, which are awaited before the next sequence.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.consumers import _FIELDS
from tests.chat.conftest import Socket, communicator, generations_finished, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

FIELD_NAMES = sorted({name for fields in _FIELDS.values() for name in fields} | {"type", "v"})
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, 2, 3, 2**63 - 1, 2**63, -1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PROTOCOL_FRAME = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from([*sorted(_FIELDS), "chat.dance", ""]),
    st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), VALUES, max_size=5),
)
FRAME = (
    PROTOCOL_FRAME.map(json.dumps)
    | VALUES.map(json.dumps)
    | st.text(max_size=200)
    | st.binary(max_size=200)
    | st.integers(min_value=1, max_value=3000).map(lambda depth: "[" * depth + "]" * depth)
)


async def _run(cookie: str, frames: list[Any]) -> list[dict]:
    channel_layers.backends.clear()  # a new event loop each time: a layer bound to none yet
    comm = communicator(cookie=cookie)
    connected, _ = await comm.connect(timeout=10)
    assert connected
    socket = Socket(comm)
    try:
        for frame in frames:
            # As ASGI delivers it (send_to refuses an empty frame, which a client may send).
            kind = "bytes" if isinstance(frame, bytes) else "text"
            await comm.send_input({"type": "websocket.receive", kind: frame})
        await socket.send({"type": "ping"})
        await socket.until_type("pong", timeout=30)
    finally:
        await generations_finished(timeout=30)
        await comm.disconnect()
    return socket.frames


@pytest.mark.usefixtures("workers")
def test_no_frame_sequence_breaks_the_chat_socket(owner):
    cookie = async_to_sync(session_cookie)(owner)

    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(FRAME, min_size=1, max_size=8))
    def check(frames):
        received = async_to_sync(_run)(cookie, frames)
        failures = [f for f in received if f.get("code") == "internal_error"]
        assert failures == [], failures
        assert all(isinstance(f.get("type"), str) for f in received)

    check()
