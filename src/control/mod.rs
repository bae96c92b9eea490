//! The control socket: a versioned JSON Lines protocol ([`protocol`]) and the
//! Unix socket server that carries it ([`server`]). The daemon answers the
//! calls; nothing here touches the store or a modem.

pub mod handler;
pub mod protocol;
pub mod server;
