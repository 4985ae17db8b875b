//! TODO: call
