// A standard js-libp2p peer (TCP, Noise, Yamux, circuit relay v2 client,
// identify, ping, Kademlia client): reserves a slot on the relay given as
// argv[2] (`/ip4/../tcp/../p2p/<relay id>`), prints `circuit <address>` once
// reachable through it, and answers pings. Each stdin line `kad` runs a
// Kademlia FIND_NODE through the relay and prints
// `kad from=<peer that answered> closer=<peer ids, comma-separated>`.
// Exits when stdin closes. Used by tests/tests/interop.rs.
import './polyfill.mjs'
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const relay = multiaddr(process.argv[2])
const relayId = relay.getComponents().find((c) => c.name === 'p2p')?.value

const node = await createLibp2p({
  addresses: { listen: [`${relay.toString()}/p2p-circuit`] },
  transports: [tcp(), circuitRelayTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    // passthroughMapper: keep loopback addresses (the test runs on loopback).
    dht: kadDHT({ protocol: '/ipfs/kad/1.0.0', clientMode: true, peerInfoMapper: passthroughMapper })
  }
})

const circuit = () => node.getMultiaddrs().find((a) => a.toString().includes('/p2p-circuit'))
await new Promise((resolve) => {
  if (circuit() != null) return resolve()
  node.addEventListener('self:peer:update', () => { if (circuit() != null) resolve() })
})
console.log(`circuit ${circuit().toString()}`)

async function findNode () {
  // A random key: the relay answers with the DHT servers it knows.
  const key = crypto.getRandomValues(new Uint8Array(32))
  for await (const ev of node.services.dht.getClosestPeers(key, { signal: AbortSignal.timeout(10000) })) {
    if (ev.name === 'PEER_RESPONSE' && ev.from.toString() === relayId) {
      return `kad from=${relayId} closer=${ev.closer.map((p) => p.id.toString()).join(',')}`
    }
  }
  return 'kad no answer from the relay'
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'kad') {
    console.log(await findNode().catch((e) => `kad error ${e.message}`))
  }
}
await node.stop()
process.exit(0)
