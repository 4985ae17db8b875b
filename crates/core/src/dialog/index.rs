//! Which call a SIP message belongs to.
//!
//! Every dialog we take part in has a local tag we chose (unique per dialog), every
//! transaction a key: the endpoint files each under the call that owns it, so an
//! incoming request or response finds its call in one lookup, whichever leg of the
//! call it belongs to.

use std::collections::HashMap;

use crate::transaction::{ClientKey, ServerKey};

/// Owners (calls) of dialogs and transactions, keyed the ways messages arrive.
#[derive(Debug)]
pub struct Index<T: Copy> {
    by_tag: HashMap<String, T>,
    by_invite: HashMap<ServerKey, T>,
    by_client: HashMap<ClientKey, T>,
}

impl<T: Copy> Default for Index<T> {
    fn default() -> Self {
        Self {
            by_tag: HashMap::new(),
            by_invite: HashMap::new(),
            by_client: HashMap::new(),
        }
    }
}

impl<T: Copy + PartialEq> Index<T> {
    /// A dialog with our `tag` (the UAS dialog of an inbound call, or an outbound leg).
    pub fn bind_tag(&mut self, tag: &str, owner: T) {
        self.by_tag.insert(tag.to_string(), owner);
    }

    pub fn unbind_tag(&mut self, tag: &str) {
        self.by_tag.remove(tag);
    }

    pub fn by_tag(&self, tag: &str) -> Option<T> {
        self.by_tag.get(tag).copied()
    }

    /// An INVITE server transaction (CANCEL and the ACK timeout find the call here).
    pub fn bind_invite(&mut self, key: ServerKey, owner: T) {
        self.by_invite.insert(key, owner);
    }

    pub fn unbind_invite(&mut self, key: &ServerKey) {
        self.by_invite.remove(key);
    }

    pub fn by_invite(&self, key: &ServerKey) -> Option<T> {
        self.by_invite.get(key).copied()
    }

    /// A client transaction we started for `owner` (a leg's INVITE, a BYE).
    pub fn bind_client(&mut self, key: ClientKey, owner: T) {
        self.by_client.insert(key, owner);
    }

    pub fn unbind_client(&mut self, key: &ClientKey) {
        self.by_client.remove(key);
    }

    pub fn by_client(&self, key: &ClientKey) -> Option<T> {
        self.by_client.get(key).copied()
    }

    /// Forget everything `owner` had.
    pub fn unbind_all(&mut self, owner: T) {
        self.by_tag.retain(|_, o| *o != owner);
        self.by_invite.retain(|_, o| *o != owner);
        self.by_client.retain(|_, o| *o != owner);
    }

    pub fn is_empty(&self) -> bool {
        self.by_tag.is_empty() && self.by_invite.is_empty() && self.by_client.is_empty()
    }
}
