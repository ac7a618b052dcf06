//! The local socket server: binds the socket safely (private directory never reached
//! through a link, `0600` socket, a stale socket removed only after connecting to it
//! failed) and bound again when its path vanishes ([`keeper`]), accepts connections within the [`admission`] cap, checks the peer's uid, and
//! runs a [`session`] per connection until shutdown.

mod accept;
mod admission;
pub mod feed;
mod keeper;
pub mod methods;
mod serve;
mod session;
mod socket;
mod state;

pub use keeper::SocketKeeper;
pub use serve::{peer_allowed, serve};
pub use socket::{ServerError, bind};
pub use state::ServerState;
