//! The libp2p side: the composed behaviour and the swarm it runs in.

pub mod addrs;
pub mod announced;
pub mod away;
mod behaviour;
pub mod carry;
pub mod discovery;
pub mod member_ping;
pub mod peer_gate;
pub mod redial;
pub mod relay_watch;
pub mod relays;
pub mod wake;

pub(crate) use behaviour::topic_score_params;
pub use behaviour::{
    build_swarm, bytes_sent, rpc_codec, topic_for, Behaviour, BehaviourEvent, GRAYLIST_THRESHOLD,
    GROUP_PROTOCOL,
};
