//! TODO: routing
