//! The local socket server.
