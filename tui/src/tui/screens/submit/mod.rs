//! The submit screen: a form for everything `genq submit` can send, checked as it is
//! typed, filled from a re-run, a model on the models screen or LoRAs from the gallery.

mod draw;
mod field;
mod form;
mod inputs;
mod update;

pub use draw::draw;
pub use field::Field;
pub use form::{SubmitForm, parse_loras};
