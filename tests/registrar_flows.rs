//! The registrar on its own (sans-IO, wall clock passed in): digest challenges and
//! responses, expiry rules, several contacts, refresh, unregister, persistence.

#[path = "registrar_flows/bindings.rs"]
mod bindings;
mod registrar_support;

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use registrar_support::*;
use switchboard::registrar::{RegisterOutcome, Registrar, Users};
use switchboard::sip::rsip;
use switchboard::store::{MemoryStore, SqliteStore, Store, StoreWrite, apply_write};

const PHONE: &str = "192.168.1.20:5062";

fn users() -> Users {
    HashMap::from([
        (
            "101".to_string(),
            ("andrew".to_string(), "s3cret".to_string()),
        ),
        (
            "elena".to_string(),
            ("elena".to_string(), "pw-elena".to_string()),
        ),
    ])
}

fn registrar() -> Registrar {
    Registrar::new([42; 32], REALM, users())
}

fn t0() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

fn after(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

fn code(o: &RegisterOutcome) -> u16 {
    o.response.status_code.code()
}

/// A phone: a Call-ID, a CSeq counter, the last challenge and its nonce count.
struct Phone {
    user: &'static str,
    password: &'static str,
    call_id: String,
    cseq: u32,
    nc: u32,
    challenge: Option<Challenge>,
    algorithm: &'static str,
}

impl Phone {
    fn new(user: &'static str, password: &'static str, call_id: &str) -> Self {
        Self {
            user,
            password,
            call_id: call_id.to_string(),
            cseq: 0,
            nc: 0,
            challenge: None,
            algorithm: "SHA-256",
        }
    }

    fn md5(mut self) -> Self {
        self.algorithm = "MD5";
        self
    }

    /// One REGISTER as the phone would send it, answering the last challenge if any.
    fn request(&mut self, contacts: &[&str], expires: Option<u32>) -> rsip::Request {
        self.cseq += 1;
        let auth = self.challenge.as_ref().map(|ch| {
            self.nc += 1;
            authorization(ch, "REGISTER", self.user, self.password, self.nc)
        });
        register(
            self.user,
            &self.call_id,
            self.cseq,
            contacts,
            expires,
            auth.as_deref(),
        )
    }

    /// Remembers the challenge of a 401 for the next request.
    fn learn(&mut self, out: &RegisterOutcome) {
        if let Some(ch) = challenges(&out.response)
            .into_iter()
            .find(|c| c.algorithm == self.algorithm)
        {
            self.challenge = Some(ch);
            self.nc = 0;
        }
    }

    /// REGISTER, and when challenged, once more with credentials.
    fn register(
        &mut self,
        r: &mut Registrar,
        now: Timestamp,
        contacts: &[&str],
        expires: Option<u32>,
    ) -> RegisterOutcome {
        let req = self.request(contacts, expires);
        let out = r.handle_register(now, &req, phone_peer(PHONE));
        if code(&out) != 401 {
            return out;
        }
        self.learn(&out);
        let req = self.request(contacts, expires);
        r.handle_register(now, &req, phone_peer(PHONE))
    }
}

const C1: &str = "<sip:101@192.168.1.20:5062>";
const C2: &str = "<sip:101@10.9.9.9:5060;transport=TCP>";

/// The first challenge of a phone puts MD5 first: clients that read only the first
/// header (sipp 3.6, old firmware) know MD5 (see `registrar::offer`).
#[test]
fn unauthenticated_register_gets_both_challenges_md5_first() {
    let mut r = registrar();
    let out = r.handle_register(
        t0(),
        &register("101", "a", 1, &[C1], None, None),
        phone_peer(PHONE),
    );
    assert_eq!(code(&out), 401);
    assert!(out.writes.is_empty());
    let ch = challenges(&out.response);
    assert_eq!(ch.len(), 2, "{}", out.response);
    assert_eq!(ch[0].algorithm, "MD5");
    assert_eq!(ch[1].algorithm, "SHA-256");
    assert_eq!(ch[0].nonce, ch[1].nonce);
    assert!(
        ch.iter()
            .all(|c| c.realm == REALM && c.qop == "auth" && !c.stale)
    );
    // The response is a proper UAS answer: To tag added.
    let text = out.response.to_string();
    assert!(text.contains("tag=sbr"), "{text}");
    // Each challenge has its own nonce.
    let again = r.handle_register(
        t0(),
        &register("101", "a", 2, &[C1], None, None),
        phone_peer(PHONE),
    );
    assert_ne!(challenges(&again.response)[0].nonce, ch[0].nonce);
    assert!(!r.is_registered("andrew", t0()));
}

/// `probed`: the phone answered MD5 while SHA-256 was offered too, so its first refresh
/// is answered with a stale challenge offering SHA-256 first (once).
fn round_trip(mut phone: Phone, probed: bool) {
    let mut r = registrar();
    let out = phone.register(&mut r, t0(), &[C1], None);
    assert_eq!(code(&out), 200, "{}", out.response);
    assert_eq!(
        response_contacts(&out.response),
        vec![("sip:101@192.168.1.20:5062".to_string(), 3600)]
    );
    let [StoreWrite::SaveRegistration(reg)] = out.writes.as_slice() else {
        panic!("{:?}", out.writes);
    };
    assert_eq!(reg.manager, "andrew");
    assert_eq!(reg.source_addr.to_string(), PHONE);
    assert_eq!(reg.transport, "udp");
    assert_eq!(reg.user_agent.as_deref(), Some("TestPhone/1.0"));
    assert_eq!(reg.expires_at, after(3600));
    assert!(r.is_registered("andrew", t0()));
    assert!(!r.is_registered("elena", t0()));
    let b = r.bindings("andrew");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].source, phone_peer(PHONE));
    // The same nonce keeps working with a growing nc (no new challenge needed)...
    let out = phone.register(&mut r, after(10), &[C1], None);
    assert_eq!(code(&out), 200);
    if probed {
        // ...except once for the SHA-256 probe: a fresh nonce, counted from 1.
        assert_eq!(phone.nc, 1);
        let out = phone.register(&mut r, after(20), &[C1], None);
        assert_eq!(code(&out), 200);
        assert_eq!(phone.nc, 2);
    } else {
        assert_eq!(phone.nc, 2);
    }
}

#[test]
fn md5_round_trip() {
    round_trip(Phone::new("101", "s3cret", "md5").md5(), true);
}

#[test]
fn sha256_round_trip() {
    round_trip(Phone::new("101", "s3cret", "sha").md5(), true);
    round_trip(Phone::new("101", "s3cret", "sha"), false);
}

/// The offer learns per phone (Call-ID): a phone that cannot answer a challenge with
/// several algorithms gets MD5 alone; an MD5 phone is asked with SHA-256 first at its
/// next refresh and keeps SHA-256 first once it answers with it.
#[test]
fn digest_offer_learns_what_each_phone_can_do() {
    use switchboard::registrar::offer::OfferState;
    let mut r = registrar();
    // baresip 1.0: gives up on the first challenge, retries later without credentials.
    let first = r.handle_register(
        t0(),
        &register("101", "walker", 1, &[C1], None, None),
        phone_peer(PHONE),
    );
    assert_eq!(challenges(&first.response).len(), 2);
    let retry = r.handle_register(
        after(40),
        &register("101", "walker", 2, &[C1], None, None),
        phone_peer(PHONE),
    );
    let ch = challenges(&retry.response);
    assert_eq!(
        ch.iter().map(|c| c.algorithm.as_str()).collect::<Vec<_>>(),
        ["MD5"]
    );
    assert_eq!(r.offer_state("walker"), Some(OfferState::Md5Only));

    // An MD5 phone that can do SHA-256 (PJSIP): probed at its refresh.
    let mut phone = Phone::new("101", "s3cret", "prober").md5();
    assert_eq!(code(&phone.register(&mut r, t0(), &[C1], None)), 200);
    assert_eq!(r.offer_state("prober"), Some(OfferState::ProbeDue));
    let out = r.handle_register(after(30), &phone.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&out), 401);
    let ch = challenges(&out.response);
    assert_eq!(
        ch.iter().map(|c| c.algorithm.as_str()).collect::<Vec<_>>(),
        ["SHA-256", "MD5"]
    );
    assert!(ch.iter().all(|c| c.stale));
    phone.algorithm = "SHA-256";
    phone.learn(&out);
    let out = r.handle_register(after(30), &phone.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&out), 200, "{}", out.response);
    assert_eq!(r.offer_state("prober"), Some(OfferState::Sha256));
    // From now on its challenges put SHA-256 first.
    let out = r.handle_register(
        after(40),
        &register("101", "prober", 99, &[C1], None, None),
        phone_peer(PHONE),
    );
    assert_eq!(challenges(&out.response)[0].algorithm, "SHA-256");

    // An un-REGISTER is never probed (a one-shot client like sipp must get its 200).
    let mut once = Phone::new("101", "s3cret", "oneshot").md5();
    assert_eq!(code(&once.register(&mut r, t0(), &[C1], None)), 200);
    let out = r.handle_register(after(1), &once.request(&[C1], Some(0)), phone_peer(PHONE));
    assert_eq!(code(&out), 200, "{}", out.response);

    // With one algorithm configured, that one is offered, always.
    let mut only = Registrar::with_config(
        [42; 32],
        REALM,
        users(),
        switchboard::registrar::RegistrarConfig {
            algorithms: vec![switchboard::registrar::digest::Algorithm::Sha256],
            ..Default::default()
        },
    );
    for n in 1..3 {
        let out = only.handle_register(
            t0(),
            &register("101", "x", n, &[C1], None, None),
            phone_peer(PHONE),
        );
        let ch = challenges(&out.response);
        assert_eq!(
            ch.iter().map(|c| c.algorithm.as_str()).collect::<Vec<_>>(),
            ["SHA-256"]
        );
    }
}

#[test]
fn stale_nonce_gets_stale_challenge_and_retry_succeeds() {
    let mut r = registrar();
    let mut phone = Phone::new("101", "s3cret", "st");
    assert_eq!(code(&phone.register(&mut r, t0(), &[C1], None)), 200);
    // 301 s later the nonce is stale: correct response → 401 stale=true.
    let out = r.handle_register(after(301), &phone.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&out), 401);
    let ch = challenges(&out.response);
    assert!(ch.iter().all(|c| c.stale), "{}", out.response);
    phone.learn(&out);
    let out = r.handle_register(after(301), &phone.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&out), 200);
    // A stale nonce with a wrong password is not "stale", it is wrong.
    let mut thief = Phone::new("101", "guess", "th");
    thief.challenge = phone.challenge.clone();
    let out = r.handle_register(after(700), &thief.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&out), 403);
}

#[test]
fn wrong_password_and_unknown_user_get_403_after_a_challenge() {
    let mut r = registrar();
    let out = Phone::new("101", "wrong", "w").register(&mut r, t0(), &[C1], None);
    assert_eq!(code(&out), 403);
    assert!(out.writes.is_empty());
    // Unknown user: challenged first like anybody (no enumeration), then 403.
    let mut nobody = Phone::new("999", "x", "n");
    let first = r.handle_register(t0(), &nobody.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&first), 401);
    nobody.learn(&first);
    let out = r.handle_register(t0(), &nobody.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&out), 403);
    assert!(!r.is_registered("andrew", t0()));
}

#[test]
fn forged_or_foreign_nonce_is_rechallenged() {
    let mut r = registrar();
    let mut phone = Phone::new("101", "s3cret", "f");
    let ch = challenges(
        &Registrar::new([1; 32], REALM, users())
            .handle_register(
                t0(),
                &register("101", "x", 1, &[C1], None, None),
                phone_peer(PHONE),
            )
            .response,
    );
    phone.challenge = Some(ch[0].clone());
    let out = r.handle_register(t0(), &phone.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&out), 401);
    assert!(challenges(&out.response).iter().all(|c| !c.stale));
}

#[test]
fn replayed_nonce_count_is_rejected() {
    let mut r = registrar();
    let mut phone = Phone::new("101", "s3cret", "rp");
    assert_eq!(code(&phone.register(&mut r, t0(), &[C1], None)), 200);
    // Replay the exact request with the same nc=1 (a new CSeq would change nothing).
    phone.nc = 0;
    let replay = phone.request(&[C1], None);
    let out = r.handle_register(after(1), &replay, phone_peer(PHONE));
    assert_eq!(code(&out), 401, "{}", out.response);
    assert!(out.writes.is_empty());
    // The phone moves on with a higher count: accepted.
    phone.nc = 5;
    let out = r.handle_register(after(2), &phone.request(&[C1], None), phone_peer(PHONE));
    assert_eq!(code(&out), 200);
}

#[test]
fn authenticated_user_cannot_register_someone_else() {
    let mut r = registrar();
    let mut phone = Phone::new("101", "s3cret", "x");
    let _ = phone.register(&mut r, t0(), &[C1], None);
    // Credentials of 101 but To: elena.
    let ch = phone.challenge.clone().unwrap();
    let auth = authorization(&ch, "REGISTER", "101", "s3cret", 9);
    let req = register(
        "elena",
        "x",
        10,
        &["<sip:elena@192.168.1.20>"],
        None,
        Some(&auth),
    );
    let out = r.handle_register(t0(), &req, phone_peer(PHONE));
    assert_eq!(code(&out), 403);
    assert!(!r.is_registered("elena", t0()));
    // A login may also register under the manager's name.
    let auth = authorization(&ch, "REGISTER", "101", "s3cret", 10);
    let req = register("andrew", "x", 11, &[C2], None, Some(&auth));
    assert_eq!(code(&r.handle_register(t0(), &req, phone_peer(PHONE))), 200);
}
