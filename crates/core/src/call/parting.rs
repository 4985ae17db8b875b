//! Managers' dialogs we are leaving: the BYE's timing and the phone's own BYE. The
//! endpoint keeps one `Parting` for all calls (a dialog outlives its call here) and
//! lends it to calls through their context.
//!
//! After a REFER we tell the phone the transfer succeeded (NOTIFY 200) and it hangs up
//! by itself (RFC 5589 §6: the transferor ends its dialog). Sending our BYE at the same
//! moment made the two BYEs cross, and each side answered the other's with 481. So a
//! leg released after a REFER waits [`PHONE_BYE_GRACE`] for the phone's BYE (answered
//! 200) and only then sends ours. Any other release sends BYE at once; either way the
//! dialog is remembered for [`REMEMBER`] so a BYE that crosses ours gets 200, not 481.
//!
//! ```text
//!  wait_for_phone ──► WaitingForPhone{bye_at} ──phone BYE──► (200, forgotten)
//!                          │ bye_at passed: send our BYE
//!  bye_sent ─────────► ByeSent{forget_at} ──phone BYE──► (200, forgotten)
//!                          │ forget_at passed
//!                          ▼ forgotten
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::dialog::Dialog;

/// How long a phone that was told its REFER succeeded gets to hang up itself.
pub const PHONE_BYE_GRACE: Duration = Duration::from_secs(3);
/// How long a dialog we sent BYE on is remembered: 64·T1, the life of the BYE's
/// transaction (RFC 3261 §17.1.2.2).
pub const REMEMBER: Duration = Duration::from_secs(32);

#[derive(Debug)]
enum State {
    WaitingForPhone { bye_at: Instant },
    ByeSent { forget_at: Instant },
}

#[derive(Debug)]
struct Leg {
    dialog: Box<Dialog>,
    state: State,
}

/// The dialogs being left, by our local tag.
#[derive(Debug, Default)]
pub struct Parting {
    legs: HashMap<String, Leg>,
}

/// What to do with a request the phone sent in a dialog we are leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartingAnswer {
    /// Its BYE: answer 200; we send no BYE of our own (any more).
    Bye,
    /// Anything else: the dialog is over for us (481); an ACK gets nothing.
    Gone,
}

impl Parting {
    /// The phone was told the transfer succeeded: send our BYE only if it has not hung
    /// up by `now + grace`.
    pub fn wait_for_phone(&mut self, now: Instant, dialog: Box<Dialog>, grace: Duration) {
        let tag = dialog.id.local_tag.clone();
        let state = State::WaitingForPhone {
            bye_at: now + grace,
        };
        self.legs.insert(tag, Leg { dialog, state });
    }

    /// We sent BYE on `dialog` now.
    pub fn bye_sent(&mut self, now: Instant, dialog: Box<Dialog>) {
        let tag = dialog.id.local_tag.clone();
        let state = State::ByeSent {
            forget_at: now + REMEMBER,
        };
        self.legs.insert(tag, Leg { dialog, state });
    }

    /// A request with our `local_tag` in To and `call_id`: `None` when it is not one
    /// of ours. A BYE forgets the dialog.
    pub fn handle_request(
        &mut self,
        local_tag: &str,
        call_id: Option<&str>,
        is_bye: bool,
    ) -> Option<PartingAnswer> {
        let leg = self.legs.get(local_tag)?;
        if Some(leg.dialog.id.call_id.as_str()) != call_id {
            return None;
        }
        if is_bye {
            self.legs.remove(local_tag);
            Some(PartingAnswer::Bye)
        } else {
            Some(PartingAnswer::Gone)
        }
    }

    /// The next dialog whose grace ran out at `now`: the caller sends BYE on it (and
    /// reports that with [`Self::bye_sent`]); call until `None`. Dialogs remembered
    /// long enough are forgotten.
    pub fn poll_due(&mut self, now: Instant) -> Option<Box<Dialog>> {
        self.legs.retain(|_, l| match l.state {
            State::ByeSent { forget_at } => forget_at > now,
            State::WaitingForPhone { .. } => true,
        });
        let tag = self
            .legs
            .iter()
            .find(|(_, l)| matches!(l.state, State::WaitingForPhone { bye_at } if bye_at <= now))
            .map(|(tag, _)| tag.clone())?;
        self.legs.remove(&tag).map(|l| l.dialog)
    }

    /// The next moment [`Self::poll_due`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.legs
            .values()
            .map(|l| match l.state {
                State::WaitingForPhone { bye_at } => bye_at,
                State::ByeSent { forget_at } => forget_at,
            })
            .min()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.legs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::rsip;
    use crate::sip::{Peer, Transport};

    fn dialog(tag: &str) -> Box<Dialog> {
        let invite = rsip::Request::try_from(
            "INVITE sip:101@10.0.0.5 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\
             From: <sip:a@127.0.0.1>;tag=TAG\r\nTo: <sip:101@10.0.0.5>\r\nCall-ID: leg-1\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
                .replace("TAG", tag)
                .as_str(),
        )
        .unwrap();
        let ok = rsip::Response::try_from(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n\
             From: <sip:a@127.0.0.1>;tag=TAG\r\nTo: <sip:101@10.0.0.5>;tag=ph\r\nCall-ID: leg-1\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:101@10.0.0.5>\r\nContent-Length: 0\r\n\r\n"
                .replace("TAG", tag)
                .as_str(),
        )
        .unwrap();
        let peer = Peer {
            transport: Transport::Udp,
            addr: "10.0.0.5:5060".parse().unwrap(),
        };
        Box::new(Dialog::new_uac(&invite, &ok, peer, tag).unwrap())
    }

    #[test]
    fn the_phones_bye_within_the_grace_means_we_send_none() {
        let t0 = Instant::now();
        let mut p = Parting::default();
        p.wait_for_phone(t0, dialog("us"), PHONE_BYE_GRACE);
        assert_eq!(p.poll_timeout(), Some(t0 + PHONE_BYE_GRACE));
        assert!(p.poll_due(t0 + Duration::from_secs(1)).is_none());
        assert_eq!(
            p.handle_request("us", Some("leg-1"), true),
            Some(PartingAnswer::Bye)
        );
        assert!(p.poll_due(t0 + Duration::from_secs(10)).is_none());
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn a_silent_phone_gets_our_bye_after_the_grace_and_a_crossing_bye_gets_200() {
        let t0 = Instant::now();
        let mut p = Parting::default();
        p.wait_for_phone(t0, dialog("us"), PHONE_BYE_GRACE);
        let due = p.poll_due(t0 + PHONE_BYE_GRACE).unwrap();
        assert!(p.poll_due(t0 + PHONE_BYE_GRACE).is_none());
        let at = t0 + PHONE_BYE_GRACE;
        p.bye_sent(at, due);
        assert_eq!(p.poll_timeout(), Some(at + REMEMBER));
        // Another request is for a dialog that is gone; another Call-ID is not ours.
        assert_eq!(
            p.handle_request("us", Some("leg-1"), false),
            Some(PartingAnswer::Gone)
        );
        assert_eq!(p.handle_request("us", Some("other"), true), None);
        assert_eq!(
            p.handle_request("us", Some("leg-1"), true),
            Some(PartingAnswer::Bye)
        );
        assert_eq!(p.handle_request("us", Some("leg-1"), true), None);
    }

    #[test]
    fn dialogs_are_forgotten_after_the_bye_transaction_ends() {
        let t0 = Instant::now();
        let mut p = Parting::default();
        p.bye_sent(t0, dialog("us"));
        assert!(p.poll_due(t0 + REMEMBER).is_none());
        assert_eq!(p.len(), 0);
        assert_eq!(p.poll_timeout(), None);
    }
}
