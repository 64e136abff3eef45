"""A voice room through a relay, driven through the generated Python
bindings: the relay is the `aura-relay` binary on loopback; one node
creates a room there, the other joins by ticket, the host takes a seat and
pushes a tone that plays out at the listener, whose room listener sees the
welcome, the seat change, who is speaking and a chat line; a raised hand,
an invitation to a seat, the seat taken and cleared; typed errors; a
cancelled subscription and a new one; leaving and a clean shutdown.

The relay binary is $AURA_RELAY, else built by cargo into the target dir.
"""

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from test_two_nodes import TIMEOUT_S, Collector, aura_ffi, start, tone_frame

ROOT = Path(__file__).resolve().parents[3]

# Loopback only; /metrics on a port of its own.
RELAY_TOML = """
identity_file = "identity.key"
[listen]
libp2p = ["/ip4/127.0.0.1/udp/0/quic-v1"]
media = "127.0.0.1:0"
metrics = "127.0.0.1:0"
"""


class RoomCollector(Collector, aura_ffi.RoomListener):
    """A room listener the app would write: hands events to another thread."""


def relay_binary() -> Path:
    given = os.environ.get("AURA_RELAY")
    if given:
        return Path(given)
    subprocess.run(
        ["cargo", "build", "-q", "-p", "aura-relay", "--bin", "aura-relay"], cwd=ROOT, check=True
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "aura-relay"


@pytest.fixture
def relay(tmp_path):
    """A running relay: (peer id, media address) as it prints them."""
    binary = relay_binary()
    home = tmp_path / "relay"
    home.mkdir()
    subprocess.run([str(binary), "init", "--dir", str(home)], check=True, capture_output=True)
    (home / "relay.toml").write_text(RELAY_TOML)
    proc = subprocess.Popen(
        [str(binary), "run", "--config", str(home / "relay.toml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        peer = media = None
        for line in proc.stdout:
            if line.startswith("peer id: "):
                peer = line.split(": ", 1)[1].strip()
            elif line.startswith("media: "):
                media = line.split(": ", 1)[1].strip()
                break
        assert peer and media, "the relay printed no peer id and media address"
        yield peer, media
    finally:
        proc.terminate()
        assert proc.wait(timeout=TIMEOUT_S) == 0


async def eventually(get, what):
    """`get()` once it is truthy, within TIMEOUT_S (the room's view is
    published just after the event that changed it)."""
    deadline = time.monotonic() + TIMEOUT_S
    while not (got := get()):
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)
    return got


def changed(pred):
    """Matches a room `Changed` event whose change satisfies `pred`."""
    return lambda e: e.is_changed() and pred(e.change)


async def room_through_relay(tmp_path: Path, relay_peer: str, relay_media: str):
    alice = await start(tmp_path, "alice")
    bob = await start(tmp_path, "bob")
    a_id, b_id = alice.member_id(), bob.member_id()

    # Alice hosts a room at the relay; the events before she subscribed
    # are kept for her listener.
    options = aura_ffi.RoomOptions(name="friday", group=None, seats=None, vip_seats=0, vip_only=False)
    host = await alice.create_room(relay_peer, relay_media, options)
    at_alice = RoomCollector()
    sub_alice = host.subscribe(at_alice)
    await at_alice.wait_for(lambda e: e.is_welcomed(), "alice welcomed")
    info = await eventually(host.info, "alice's view of the room")
    assert (info.id, info.name, info.host, info.group) == (host.room_id(), "friday", a_id, None)
    assert len(info.seats) == 8 and not info.closed
    ticket = host.ticket(600_000)
    assert ticket.startswith("auraroom1")

    # Bob joins by the ticket.
    room = await bob.join_room(ticket, relay_peer, relay_media)
    at_bob = RoomCollector()
    sub_bob = room.subscribe(at_bob)
    assert sub_bob.is_active()
    await at_bob.wait_for(lambda e: e.is_welcomed(), "bob welcomed")
    assert room.room_id() == host.room_id()
    await at_alice.wait_for(
        changed(lambda c: c.is_joined() and c.member == b_id), "alice saw bob join"
    )
    def roles_if_both():
        roles = {m.member: (m.role, m.seat) for m in host.members()}
        return roles if len(roles) == 2 else None

    roles = await eventually(roles_if_both, "bob in alice's view")
    assert roles == {
        a_id: (aura_ffi.RoomRole.HOST, None),
        b_id: (aura_ffi.RoomRole.LISTENER, None),
    }
    relays = room.relays()
    assert relays.current == relay_peer

    # Alice takes seat 0; bob sees it.
    await host.seat(0)
    await at_bob.wait_for(
        changed(lambda c: c.is_seated() and c.seat == 0 and c.member == a_id), "bob saw alice seated"
    )
    await eventually(room.info, "bob's view of the room")
    seated = await eventually(
        lambda: [(m.member, m.seat) for m in room.members() if m.seat is not None], "a seat at bob"
    )
    assert seated == [(a_id, 0)]
    await eventually(host.is_seated, "alice seated in her view")
    assert not room.is_seated()

    # Alice pushes a tone at the frame pace until bob's playout carries it.
    assert host.frame_len() == 960
    loudest = 0
    deadline = time.monotonic() + TIMEOUT_S
    k = 0
    while loudest < 3_000:
        assert time.monotonic() < deadline, f"bob never heard alice (loudest {loudest})"
        host.capture(tone_frame(k))
        k += 1
        await asyncio.sleep(0.02)
        while (frame := room.pull_playout()) is not None:
            assert len(frame) == 960
            loudest = max(loudest, max(abs(s) for s in frame))
    await at_bob.wait_for(
        lambda e: e.is_speaking() and a_id in e.members, "bob saw alice speaking"
    )
    assert any(h.member == a_id and h.frames > 0 for h in room.heard())

    # Chat, from the audience to the host.
    await room.chat("hello room")
    said = await at_alice.wait_for(
        lambda e: e.is_said() and e.text == "hello room", "bob's chat line"
    )
    assert said.sender == b_id

    # A raised hand, an invitation to a seat, the seat taken and cleared.
    await room.raise_hand(True)
    await at_alice.wait_for(
        changed(lambda c: c.is_hand() and c.member == b_id and c.up), "bob's hand"
    )
    await host.invite(b_id, 1)
    await at_bob.wait_for(
        changed(lambda c: c.is_seat_invited() and c.member == b_id and c.seat == 1), "bob invited"
    )
    await room.seat(1)
    await at_alice.wait_for(
        changed(lambda c: c.is_seated() and c.seat == 1 and c.member == b_id), "bob seated"
    )
    await host.clear_seat(1)
    await at_bob.wait_for(
        changed(lambda c: c.is_seated() and c.seat == 1 and c.member is None), "seat 1 cleared"
    )

    # Typed errors.
    with pytest.raises(aura_ffi.AuraError.BadInput):
        host.capture([0] * 10)
    with pytest.raises(aura_ffi.AuraError.BadInput):
        await host.share_music([0] * 3)
    with pytest.raises(aura_ffi.AuraError.BadInput):
        await alice.create_room("not a peer id", relay_media, options)
    with pytest.raises(aura_ffi.AuraError.BadInput):
        await alice.join_room(ticket, relay_peer, "localhost")
    with pytest.raises(aura_ffi.AuraError.Ticket):
        await alice.join_room("not a ticket", relay_peer, relay_media)
    with pytest.raises(aura_ffi.AuraError.BadInput):
        await host.kick("not hex")

    # A cancelled room subscription gets nothing more; what arrives after
    # it is kept for the next one.
    sub_bob.cancel()
    sub_bob.cancel()
    assert not sub_bob.is_active()
    at_bob.drain_for(lambda e: False)
    await host.chat("after cancel")
    await asyncio.sleep(0.5)  # the line reaches bob's node within this on loopback
    assert at_bob.drain_for(lambda e: e.is_said()) is None
    again = RoomCollector()
    sub_again = room.subscribe(again)
    await again.wait_for(lambda e: e.is_said() and e.text == "after cancel", "the kept line")

    # Bob leaves: alice sees him go.
    await room.leave()
    await at_alice.wait_for(
        changed(lambda c: c.is_departed() and c.member == b_id and not c.removed), "bob left"
    )
    sub_again.cancel()
    sub_alice.cancel()
    await host.leave()
    await alice.shutdown()
    await bob.shutdown()


def test_room_through_a_relay_voice_chat_events(tmp_path, relay):
    asyncio.run(asyncio.wait_for(room_through_relay(tmp_path, *relay), 120))
