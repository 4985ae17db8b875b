//! TODO: transaction
