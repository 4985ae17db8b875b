//! TODO: sdp
