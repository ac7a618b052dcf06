//! The job engine.
