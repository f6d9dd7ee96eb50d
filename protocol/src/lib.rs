//! Pocket protocol types and pure functions.
