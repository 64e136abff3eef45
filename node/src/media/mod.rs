//! The media plane: sealed voice frames carried as QUIC datagrams over quinn.
