//! TODO: media
