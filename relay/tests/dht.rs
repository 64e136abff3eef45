//! The relay as a bootstrap node: standard rust-libp2p Kademlia clients
//! that know only the relay find each other's provider records through it
//! (how group members discover each other by a group key).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use futures::StreamExt;
use libp2p::{kad, noise, swarm::SwarmEvent, tcp, yamux, Multiaddr, PeerId, Swarm};
use support::*;

fn kad_client(relay: PeerId, addr: &Multiaddr) -> Swarm<kad::Behaviour<kad::store::MemoryStore>> {
    let mut s = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| {
            let id = key.public().to_peer_id();
            kad::Behaviour::new(id, kad::store::MemoryStore::new(id))
        })
        .unwrap()
        .build();
    s.behaviour_mut().set_mode(Some(kad::Mode::Client));
    s.behaviour_mut().add_address(&relay, addr.clone());
    s
}

#[tokio::test]
async fn clients_that_know_only_the_relay_find_each_other_on_its_dht() {
    let (server, _) = relay(loopback_config()).await;
    let addr = server.listen_addrs()[0].clone();
    let key = kad::RecordKey::new(b"aura group rendezvous");

    let mut a = kad_client(server.peer_id(), &addr);
    let a_id = *a.local_peer_id();
    // A provider record carries the provider's external addresses (behind
    // a NAT: its circuit address); a record without any is not handed out.
    a.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let a_addr = within(10, async {
        loop {
            if let SwarmEvent::NewListenAddr { address, .. } = a.select_next_some().await {
                return address;
            }
        }
    })
    .await;
    a.add_external_address(a_addr);
    a.behaviour_mut().start_providing(key.clone()).unwrap();
    within(20, async {
        loop {
            if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::StartProviding(r),
                ..
            }) = a.select_next_some().await
            {
                r.unwrap();
                break;
            }
        }
    })
    .await;
    tokio::spawn(async move {
        loop {
            a.select_next_some().await;
        }
    });

    let mut b = kad_client(server.peer_id(), &addr);
    b.behaviour_mut().get_providers(key);
    let found = within(20, async {
        loop {
            if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                result:
                    kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                        providers,
                        ..
                    })),
                ..
            }) = b.select_next_some().await
            {
                return providers;
            }
        }
    })
    .await;
    assert!(
        found.contains(&a_id),
        "B did not find A through the relay's DHT"
    );
    server.shutdown().await;
}
