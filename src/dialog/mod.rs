//! TODO: dialog
