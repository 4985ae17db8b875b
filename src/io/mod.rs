//! TODO: io
