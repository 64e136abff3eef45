"""Two Aura nodes driven through the generated Python bindings: a group,
an invite and a join, roles, location seen by the other member, chat,
events at a Python listener, typed errors, cancelling a subscription and a
clean shutdown.

The bindings come from $AURA_BINDINGS (the directory
mobile-ffi/scripts/bindings.sh prints); without it the script is run.
"""

import asyncio
import math
import os
import queue
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _bindings_dir() -> Path:
    given = os.environ.get("AURA_BINDINGS")
    if given:
        return Path(given)
    script = HERE.parent.parent / "scripts" / "bindings.sh"
    out = subprocess.run([str(script)], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


sys.path.insert(0, str(_bindings_dir() / "python"))
import aura_ffi  # noqa: E402

# Loopback only, no mDNS, fast gossip, publish every move: a test mesh.
LOOPBACK = """
listen = ["/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"]
mdns = false
heartbeat_ms = 100
[publish]
min_distance_m = 1.0
min_interval_ms = 0
max_interval_ms = 5000
"""

TIMEOUT_S = 30


class Collector(aura_ffi.AuraListener):
    """A listener the app would write: hands events to another thread."""

    def __init__(self):
        self.events = queue.Queue()

    def on_event(self, event):
        self.events.put(event)

    def drain_for(self, pred):
        """Empties the queue; the first queued event matching `pred`, if any."""
        found = None
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return found
            if found is None and pred(event):
                found = event

    async def wait_for(self, pred, what):
        """The first event matching `pred`, within TIMEOUT_S."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no event: {what}")
            try:
                event = await asyncio.to_thread(self.events.get, True, min(left, 1.0))
            except queue.Empty:
                continue
            if pred(event):
                return event


async def start(tmp_path: Path, name: str):
    node = await aura_ffi.start_node(str(tmp_path / name), LOOPBACK)
    deadline = time.monotonic() + TIMEOUT_S
    while len(await node.listen_addrs()) < 2:
        assert time.monotonic() < deadline, "node never listened"
        await asyncio.sleep(0.01)
    return node


async def two_nodes(tmp_path: Path):
    alice = await start(tmp_path, "alice")
    bob = await start(tmp_path, "bob")
    seen_by_alice, seen_by_bob = Collector(), Collector()
    sub_alice = alice.subscribe(seen_by_alice)
    sub_bob = bob.subscribe(seen_by_bob)
    assert sub_alice.is_active() and sub_bob.is_active()
    a_id, b_id = alice.member_id(), bob.member_id()
    assert len(a_id) == 64 and a_id != b_id

    # Group, invite as text, join over the network.
    gid = await alice.create_group("hikers")
    await seen_by_alice.wait_for(
        lambda e: e.is_joined() and e.group == gid and e.name == "hikers", "alice joined"
    )
    invite = await alice.invite(gid, 5, 600_000)
    assert await bob.join(invite) == gid
    await seen_by_bob.wait_for(lambda e: e.is_joined() and e.group == gid, "bob joined")
    assert [(g.id, g.name) for g in await bob.groups()] == [(gid, "hikers")]
    await seen_by_alice.wait_for(
        lambda e: e.is_member_joined() and e.member == b_id, "alice saw bob join"
    )
    roles = {m.id: m.role for m in await alice.members(gid)}
    assert roles == {a_id: aura_ffi.MemberRole.OWNER, b_id: aura_ffi.MemberRole.MEMBER}

    # Location: bob shares exactly and moves until alice sees him.
    for node in (alice, bob):
        await node.set_precision(gid, aura_ffi.LocationPrecision.EXACT)
        await node.share_location(gid, True)
    sent = []
    got = None
    deadline = time.monotonic() + TIMEOUT_S
    while got is None:
        assert time.monotonic() < deadline, "alice never saw bob's position"
        lat, lon = 45.9237 + 0.0002 * len(sent), 6.8694
        sent.append((lat, lon))
        await bob.update_position(lat, lon)
        # Moves are repeated (a fix published before alice had bob's key
        # is unreadable to her) at a walking pace, as a phone would.
        await asyncio.sleep(0.1)
        got = seen_by_alice.drain_for(
            lambda e: e.is_location() and e.member == b_id and e.group == gid
        )
    assert (got.fix.lat, got.fix.lon) in [pytest.approx(p, abs=1e-9) for p in sent]
    assert got.fix.precision == aura_ffi.LocationPrecision.EXACT
    last = {p.member: p.fix for p in await alice.last_positions(gid)}
    assert b_id in last
    assert (last[b_id].lat, last[b_id].lon) in [pytest.approx(p, abs=1e-9) for p in sent]
    assert "<gpx" in await alice.history_gpx(gid)

    # Chat, both ways through the listener and the history.
    await bob.send_chat(gid, "hello from python")
    chat = await seen_by_alice.wait_for(
        lambda e: e.is_chat() and e.text == "hello from python", "bob's chat"
    )
    assert (chat.group, chat.sender) == (gid, b_id)
    history = await alice.chat_history(gid)
    assert [(m.sender, m.text) for m in history][-1] == (b_id, "hello from python")

    # A geofence the owner adds reaches the other member.
    home = aura_ffi.FenceInfo(
        name="hut",
        shape=aura_ffi.FenceShape.CIRCLE(center=aura_ffi.LatLon(lat=45.92, lon=6.87), radius_m=150.0),
    )
    await alice.add_geofence(gid, home)
    deadline = time.monotonic() + TIMEOUT_S
    while await bob.geofences(gid) != [home]:
        assert time.monotonic() < deadline, "bob never got the geofence"
        await asyncio.sleep(0.05)

    # Typed errors.
    with pytest.raises(aura_ffi.AuraError.Billing):
        await alice.wallet()  # no ledger configured
    with pytest.raises(aura_ffi.AuraError.BadInput):
        await alice.members("not hex")
    with pytest.raises(aura_ffi.AuraError.UnknownGroup):
        await alice.members("00" * 32)
    with pytest.raises(aura_ffi.AuraError.Invite):
        await bob.join("not an invite")
    with pytest.raises(aura_ffi.AuraError.BadInput):
        await bob.update_position(91.0, 0.0)

    # A cancelled subscription gets nothing more, though the node does.
    sub_bob.cancel()
    sub_bob.cancel()
    assert not sub_bob.is_active()
    while not seen_by_bob.events.empty():
        seen_by_bob.events.get_nowait()
    await alice.send_chat(gid, "after cancel")
    deadline = time.monotonic() + TIMEOUT_S
    while "after cancel" not in [m.text for m in await bob.chat_history(gid)]:
        assert time.monotonic() < deadline, "bob's node never got the chat"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the listener thread would deliver within this
    late = [e for e in list(seen_by_bob.events.queue) if e.is_chat()]
    assert late == [], late

    # Clean shutdown: later calls say the node is closed.
    await bob.shutdown()
    with pytest.raises(aura_ffi.AuraError.Closed):
        await bob.groups()
    await seen_by_alice.wait_for(lambda e: e.is_peer_disconnected(), "bob's disconnect")
    await alice.shutdown()
    sub_alice.cancel()


def test_two_nodes_group_location_chat_events_shutdown(tmp_path):
    asyncio.run(asyncio.wait_for(two_nodes(tmp_path), 120))


def tone_frame(k: int, n: int = 960) -> list:
    """20 ms of a loud 440 Hz tone, frame `k` of a continuous signal."""
    return [int(12_000 * math.sin(2 * math.pi * 440 * (k * n + i) / 48_000)) for i in range(n)]


async def voice_frames_in_and_out(tmp_path: Path):
    alice = await start(tmp_path, "alice")
    bob = await start(tmp_path, "bob")
    gid = await alice.create_group("talkers")
    assert await bob.join(await alice.invite(gid, 1, 600_000)) == gid
    options = aura_ffi.VoiceOptions(bind="127.0.0.1:0", advertise=None, open_mic=False, stereo=False)
    talk = await alice.join_voice(gid, options)
    hear = await bob.join_voice(gid, options)
    assert talk.frame_len() == 960
    with pytest.raises(aura_ffi.AuraError.BadInput):
        talk.capture([0] * 10)

    # Alice holds the talk key and pushes a tone at the frame pace until
    # bob's playout carries it.
    await talk.set_ptt(True)
    loudest = 0
    deadline = time.monotonic() + TIMEOUT_S
    k = 0
    while loudest < 3_000:
        assert time.monotonic() < deadline, f"bob never heard alice (loudest {loudest})"
        talk.capture(tone_frame(k))
        k += 1
        await asyncio.sleep(0.02)
        while (frame := hear.pull_playout()) is not None:
            assert len(frame) == 960
            loudest = max(loudest, max(abs(s) for s in frame))
    sent = await talk.counters()
    got = await hear.counters()
    assert sent.frames_sent > 0 and got.frames_received > 0
    assert alice.member_id() in got.connected

    await talk.leave()
    await hear.leave()
    await alice.shutdown()
    await bob.shutdown()


def test_voice_frames_pushed_by_one_node_play_out_at_the_other(tmp_path):
    asyncio.run(asyncio.wait_for(voice_frames_in_and_out(tmp_path), 120))


def test_voice_models_blob_is_checked_with_a_typed_error():
    # This library has the codec's models compiled in (a `runtime-models`
    # build, as scripts/build-mobile.sh makes, needs the blob loaded).
    assert aura_ffi.voice_models_available()
    with pytest.raises(aura_ffi.AuraError.BadInput):
        aura_ffi.load_voice_models(b"not a models blob")
    with pytest.raises(aura_ffi.AuraError.BadInput):
        aura_ffi.load_voice_models(b"")
