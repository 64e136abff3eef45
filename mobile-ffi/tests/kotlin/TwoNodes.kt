// Two Aura nodes driven through the generated Kotlin bindings on the JVM:
// a group, an invite and a join, roles, location seen by the other member,
// chat, events at a Kotlin listener, typed errors, a cancelled subscription,
// a voice room through a relay (the `aura-relay` binary at $AURA_RELAY on
// loopback: create, join by ticket, seat, chat) and a clean shutdown. Run by
// run.sh; exits non-zero on the first failure.

import java.io.File
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import uniffi.aura_ffi.*

// Loopback only, no mDNS, fast gossip, publish every move: a test mesh.
const val LOOPBACK = """
listen = ["/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"]
mdns = false
heartbeat_ms = 100
[publish]
min_distance_m = 1.0
min_interval_ms = 0
max_interval_ms = 5000
"""

const val TIMEOUT_MS = 30_000L

/** A listener the app would write: hands events to another thread. */
class Collector : AuraListener {
    val events = LinkedBlockingQueue<AuraEvent>()

    override fun onEvent(event: AuraEvent) {
        events.put(event)
    }

    /** The first event matching `pred` within TIMEOUT_MS (`what` names it). */
    fun waitFor(what: String, pred: (AuraEvent) -> Boolean): AuraEvent {
        val deadline = System.currentTimeMillis() + TIMEOUT_MS
        while (true) {
            val left = deadline - System.currentTimeMillis()
            check(left > 0) { "no event: $what" }
            val e = events.poll(left, TimeUnit.MILLISECONDS) ?: continue
            if (pred(e)) return e
        }
    }
}

/** A room listener: hands events to another thread. */
class RoomCollector : RoomListener {
    val events = LinkedBlockingQueue<AuraRoomEvent>()

    override fun onEvent(event: AuraRoomEvent) {
        events.put(event)
    }

    /** The first event matching `pred` within TIMEOUT_MS (`what` names it). */
    fun waitFor(what: String, pred: (AuraRoomEvent) -> Boolean): AuraRoomEvent {
        val deadline = System.currentTimeMillis() + TIMEOUT_MS
        while (true) {
            val left = deadline - System.currentTimeMillis()
            check(left > 0) { "no room event: $what" }
            val e = events.poll(left, TimeUnit.MILLISECONDS) ?: continue
            if (pred(e)) return e
        }
    }
}

/** A relay on loopback: the process, its peer id and media address. */
fun startRelay(dir: String): Triple<Process, String, String> {
    val binary = System.getenv("AURA_RELAY") ?: error("AURA_RELAY is not set")
    val home = File(dir).apply { mkdirs() }
    val init = ProcessBuilder(binary, "init", "--dir", home.path).redirectErrorStream(true).start()
    init.inputStream.readAllBytes()
    check(init.waitFor() == 0) { "aura-relay init failed" }
    File(home, "relay.toml").writeText(
        """
        identity_file = "identity.key"
        [listen]
        libp2p = ["/ip4/127.0.0.1/udp/0/quic-v1"]
        media = "127.0.0.1:0"
        metrics = "127.0.0.1:0"
        """.trimIndent()
    )
    val proc = ProcessBuilder(binary, "run", "--config", File(home, "relay.toml").path)
        .redirectError(ProcessBuilder.Redirect.DISCARD)
        .start()
    val out = proc.inputStream.bufferedReader()
    var peer: String? = null
    while (true) {
        val line = out.readLine() ?: error("the relay stopped before printing its media address")
        if (line.startsWith("peer id: ")) peer = line.removePrefix("peer id: ").trim()
        if (line.startsWith("media: ")) {
            return Triple(proc, peer ?: error("no peer id"), line.removePrefix("media: ").trim())
        }
    }
}

suspend fun start(dir: String): AuraNode {
    val node = startNode(dir, LOOPBACK)
    withTimeout(TIMEOUT_MS) { while (node.listenAddrs().size < 2) delay(10) }
    return node
}

inline fun <reified E : Throwable> assertThrows(block: () -> Unit) {
    try {
        block()
    } catch (e: Throwable) {
        check(e is E) { "expected ${E::class.simpleName}, got $e" }
        return
    }
    error("expected ${E::class.simpleName}, nothing thrown")
}

fun main() = runBlocking {
    val tmp = Files.createTempDirectory("aura-kotlin").toString()
    val alice = start("$tmp/alice")
    val bob = start("$tmp/bob")
    val seenByAlice = Collector()
    val seenByBob = Collector()
    val subAlice = alice.subscribe(seenByAlice)
    val subBob = bob.subscribe(seenByBob)
    val aId = alice.memberId()
    val bId = bob.memberId()
    check(aId.length == 64 && aId != bId)

    // Group, invite as text, join over the network.
    val gid = alice.createGroup("hikers")
    seenByAlice.waitFor("alice joined") { it is AuraEvent.Joined && it.group == gid }
    val invite = alice.invite(gid, 5u, 600_000uL)
    check(bob.join(invite) == gid)
    check(bob.groups().map { it.id to it.name } == listOf(gid to "hikers"))
    seenByAlice.waitFor("alice saw bob join") { it is AuraEvent.MemberJoined && it.member == bId }
    val roles = alice.members(gid).associate { it.id to it.role }
    check(roles == mapOf(aId to MemberRole.OWNER, bId to MemberRole.MEMBER)) { "$roles" }

    // Location: bob shares exactly and moves until alice sees him.
    for (n in listOf(alice, bob)) {
        n.setPrecision(gid, LocationPrecision.EXACT)
        n.shareLocation(gid, true)
    }
    val sent = mutableListOf<Pair<Double, Double>>()
    var got: AuraEvent.Location? = null
    val deadline = System.currentTimeMillis() + TIMEOUT_MS
    while (got == null) {
        check(System.currentTimeMillis() < deadline) { "alice never saw bob's position" }
        val pos = Pair(45.9237 + 0.0002 * sent.size, 6.8694)
        sent.add(pos)
        bob.updatePosition(pos.first, pos.second)
        got = seenByAlice.events.poll(500, TimeUnit.MILLISECONDS)
            ?.let { it as? AuraEvent.Location }
            ?.takeIf { it.member == bId && it.group == gid }
    }
    check(sent.any { it.first == got.fix.lat && it.second == got.fix.lon }) { "$got not in $sent" }
    check(alice.lastPositions(gid).any { it.member == bId })

    // Chat through the listener and the history.
    bob.sendChat(gid, "hello from kotlin")
    val chat = seenByAlice.waitFor("bob's chat") {
        it is AuraEvent.Chat && it.text == "hello from kotlin"
    } as AuraEvent.Chat
    check(chat.sender == bId && chat.group == gid)
    check(alice.chatHistory(gid).last().text == "hello from kotlin")

    // Typed errors.
    assertThrows<AuraException.BadInput> { alice.members("not hex") }
    assertThrows<AuraException.UnknownGroup> { alice.members("00".repeat(32)) }
    assertThrows<AuraException.Invite> { bob.join("not an invite") }

    // A voice room through a relay: alice hosts, bob joins by ticket.
    val (relay, relayPeer, relayMedia) = startRelay("$tmp/relay")
    val options = RoomOptions(name = "friday", group = null, seats = null, vipSeats = 0u, vipOnly = false)
    val host = alice.createRoom(relayPeer, relayMedia, options)
    val atAlice = RoomCollector()
    val roomSubAlice = host.subscribe(atAlice)
    atAlice.waitFor("alice welcomed") { it is AuraRoomEvent.Welcomed }
    val room = bob.joinRoom(host.ticket(600_000uL), relayPeer, relayMedia)
    val atBob = RoomCollector()
    val roomSubBob = room.subscribe(atBob)
    atBob.waitFor("bob welcomed") { it is AuraRoomEvent.Welcomed }
    check(room.roomId() == host.roomId())
    atAlice.waitFor("alice saw bob join") {
        it is AuraRoomEvent.Changed && (it.change as? RoomChangeInfo.Joined)?.member == bId
    }
    host.seat(0u)
    atBob.waitFor("bob saw alice seated") {
        it is AuraRoomEvent.Changed && (it.change as? RoomChangeInfo.Seated)?.member == aId
    }
    check(room.members().any { it.member == aId && it.role == RoomRole.HOST && it.seat == 0.toUByte() })
    room.chat("hello room from kotlin")
    val said = atAlice.waitFor("bob's chat line") {
        it is AuraRoomEvent.Said && it.text == "hello room from kotlin"
    } as AuraRoomEvent.Said
    check(said.sender == bId)
    assertThrows<AuraException.Ticket> { bob.joinRoom("not a ticket", relayPeer, relayMedia) }
    assertThrows<AuraException.BadInput> { host.capture(List(10) { 0.toShort() }) }
    room.leave()
    atAlice.waitFor("bob left") {
        it is AuraRoomEvent.Changed && (it.change as? RoomChangeInfo.Departed)?.member == bId
    }
    roomSubBob.cancel()
    roomSubAlice.cancel()
    host.leave()
    room.close()
    host.close()
    relay.destroy()
    check(relay.waitFor() == 0) { "the relay did not stop cleanly" }

    // Cancelled subscription; clean shutdown; calls after it say Closed.
    subBob.cancel()
    check(!subBob.isActive())
    bob.shutdown()
    assertThrows<AuraException.Closed> { bob.groups() }
    alice.shutdown()
    subAlice.cancel()
    alice.close()
    bob.close()
    println("kotlin two nodes: 1 passed, 0 failed")
}
