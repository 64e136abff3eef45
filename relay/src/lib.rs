//! The Aura community relay: NAT traversal (circuit relay v2, AutoNAT), DHT
//! bootstrap, and the media relay that fans sealed voice out to large rooms.
//! It never holds a group key: it routes on the sealed frame header only.
