//! RTP port allocation from the configured range.
//!
//! Even ports only (RFC 3550 §11: RTP on even, RTCP on the next odd port). Freed ports
//! go to the back of the queue so a port is reused as late as possible: late packets
//! of a finished call then cannot land in a new call on the same port.

use std::collections::{HashSet, VecDeque};

use serde::Deserialize;

#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    in_use: HashSet<u16>,
}

impl PortPool {
    pub fn new(range: PortRange) -> Self {
        let free: VecDeque<u16> = range.even_ports().collect();
        Self {
            in_use: HashSet::with_capacity(free.len()),
            free,
        }
    }

    /// Take a port, or None when every port is busy (the caller answers 503).
    pub fn allocate(&mut self) -> Option<u16> {
        let port = self.free.pop_front()?;
        self.in_use.insert(port);
        Some(port)
    }

    /// Give a port back. Unknown or double releases are ignored.
    pub fn release(&mut self, port: u16) {
        if self.in_use.remove(&port) {
            self.free.push_back(port);
        }
    }

    /// Take a port out of circulation (another process holds it): one a call drew
    /// and could not bind, or a free one found held before any call drew it.
    pub fn retire(&mut self, port: u16) {
        self.retire_all(&[port]);
    }

    /// [`Self::retire`] for many ports at once (the ports found held at start): one
    /// pass over the free queue, however many there are.
    pub fn retire_all(&mut self, ports: &[u16]) {
        let free: HashSet<u16> = ports
            .iter()
            .copied()
            .filter(|p| !self.in_use.remove(p))
            .collect();
        if !free.is_empty() {
            self.free.retain(|p| !free.contains(p));
        }
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

/// An inclusive port range written `"20000-29999"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// The range's even ports, the ones a call leg is given (RFC 3550 §11: RTP on an
    /// even port, RTCP on the next odd one).
    pub fn even_ports(self) -> impl Iterator<Item = u16> {
        let first = self.low + (self.low % 2);
        (first..=self.high).step_by(2)
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or_else(|| format!("port range \"{s}\" must look like 20000-29999"))?;
        let low: u16 = lo
            .trim()
            .parse()
            .map_err(|_| format!("\"{lo}\" is not a port number"))?;
        let high: u16 = hi
            .trim()
            .parse()
            .map_err(|_| format!("\"{hi}\" is not a port number"))?;
        if low == 0 || high < low.saturating_add(1) {
            return Err(format!(
                "port range \"{s}\" must be LOW-HIGH with 0 < LOW < HIGH"
            ));
        }
        Ok(PortRange { low, high })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_reused_last() {
        let mut p = PortPool::new(PortRange {
            low: 10001,
            high: 10008,
        });
        assert_eq!(p.available(), 4);
        let a = p.allocate().unwrap();
        assert_eq!(a, 10002);
        p.release(a);
        p.release(a);
        let order: Vec<u16> = std::iter::from_fn(|| p.allocate()).collect();
        assert_eq!(order, vec![10004, 10006, 10008, 10002]);
        assert_eq!(p.allocate(), None);
    }

    /// A port retired while in use, or while free, is never handed out again.
    #[test]
    fn retired_ports_are_never_drawn() {
        let mut p = PortPool::new(PortRange {
            low: 10000,
            high: 10006,
        });
        p.retire(10004); // free: held by another program at start
        let a = p.allocate().unwrap();
        p.retire(a); // drawn, and its bind failed
        p.release(a); // a late release changes nothing
        let order: Vec<u16> = std::iter::from_fn(|| p.allocate()).collect();
        assert_eq!((a, order), (10000, vec![10002, 10006]));
        // Many at once: free ones and a drawn one.
        let mut p = PortPool::new(PortRange {
            low: 10000,
            high: 10010,
        });
        let drawn = p.allocate().unwrap();
        p.retire_all(&[10002, drawn, 10008]);
        p.release(drawn);
        let order: Vec<u16> = std::iter::from_fn(|| p.allocate()).collect();
        assert_eq!(order, vec![10004, 10006, 10010]);
    }
}
