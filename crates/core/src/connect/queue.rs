//! A department's waiting callers, in the order they are served: higher priority
//! first, then first come, first served.

use crate::media::CallKey;

/// One waiting caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub call: CallKey,
    /// Higher is served first.
    pub priority: u8,
    /// When the call first asked to be connected (the connect machine's arrival
    /// counter): a caller rung from the queue who gets no answer goes back to the
    /// place this gives them, not to the end.
    pub seq: u64,
}

impl Entry {
    fn order(&self) -> (std::cmp::Reverse<u8>, u64) {
        (std::cmp::Reverse(self.priority), self.seq)
    }
}

/// The ordered queue of one department.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    entries: Vec<Entry>,
}

impl Queue {
    /// Puts `entry` at its place; returns its position (1 = next to be served).
    pub fn insert(&mut self, entry: Entry) -> usize {
        if let Some(i) = self.position(entry.call) {
            return i + 1;
        }
        let at = self.entries.partition_point(|e| e.order() <= entry.order());
        self.entries.insert(at, entry);
        at + 1
    }

    pub fn remove(&mut self, call: CallKey) -> bool {
        match self.position(call) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    /// 0-based index of `call`.
    pub fn position(&self, call: CallKey) -> Option<usize> {
        self.entries.iter().position(|e| e.call == call)
    }

    /// The same place under another key.
    pub fn rekey(&mut self, from: CallKey, to: CallKey) {
        for e in &mut self.entries {
            if e.call == from {
                e.call = to;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The waiting calls in serving order.
    pub fn calls(&self) -> Vec<CallKey> {
        self.entries.iter().map(|e| e.call).collect()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(call: u64, priority: u8, seq: u64) -> Entry {
        Entry {
            call: CallKey(call),
            priority,
            seq,
        }
    }

    #[test]
    fn first_come_first_served_within_a_priority_and_higher_priority_first() {
        let mut q = Queue::default();
        assert_eq!(q.insert(e(1, 0, 1)), 1);
        assert_eq!(q.insert(e(2, 0, 2)), 2);
        assert_eq!(q.insert(e(3, 5, 3)), 1, "a VIP goes ahead");
        assert_eq!(q.insert(e(4, 5, 4)), 2, "but behind an earlier VIP");
        assert_eq!(
            q.calls(),
            vec![CallKey(3), CallKey(4), CallKey(1), CallKey(2)]
        );
        // Taken out to be rung, then put back: the same place, not the end.
        assert!(q.remove(CallKey(1)));
        assert_eq!(q.insert(e(1, 0, 1)), 3);
        assert_eq!(q.insert(e(1, 0, 1)), 3, "inserting twice is a no-op");
    }
}
