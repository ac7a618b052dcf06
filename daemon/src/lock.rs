//! Lock file.
