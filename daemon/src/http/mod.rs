//! The HTTP API: an OpenAI-compatible image endpoint and a REST job API over the same
//! handlers as the socket server, so both faces share one engine, one store and one event
//! log. Off unless `[http] listen` is set; every route but health, the OpenAPI document and
//! signed output links needs a bearer token (`genq token create`).
//!
//! [`listen`] binds the configured address and follows it through config reloads, serving
//! each connection under the connection cap and the header deadline; [`routes`] is the one
//! list of routes, from which the OpenAPI document is generated; [`auth`] checks tokens;
//! [`limits`] bounds request bodies; [`error`] is the OpenAI-shaped error; [`openai`],
//! [`jobs`], [`files`], [`events`], [`catalog`] and [`health`] are the handlers; [`state`]
//! and [`signed`] what they share.

mod auth;
mod catalog;
mod error;
mod events;
mod files;
mod health;
mod job_path;
mod jobs;
mod limits;
mod listen;
mod openai;
mod routes;
mod signed;
mod state;

pub use listen::spawn;
pub use routes::openapi_document;
