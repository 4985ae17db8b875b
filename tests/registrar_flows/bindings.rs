//! Bindings over time (expiry, several contacts, CSeq order, unregistering, restarts),
//! phones' INVITEs authenticated, digest algorithms, RFC 3327 Path, and lockouts.

use super::*;

#[test]
fn expiry_is_clamped_and_too_brief_gets_423() {
    let mut r = registrar();
    let mut phone = Phone::new("101", "s3cret", "e");
    let out = phone.register(&mut r, t0(), &[C1], Some(30));
    assert_eq!(code(&out), 423);
    assert_eq!(min_expires(&out.response).as_deref(), Some("60"));
    assert!(out.writes.is_empty() && !r.is_registered("andrew", t0()));
    // Contact parameter wins over the header; too long is shortened to the maximum.
    let out = phone.register(
        &mut r,
        t0(),
        &["<sip:101@192.168.1.20:5062>;expires=30"],
        Some(600),
    );
    assert_eq!(code(&out), 423);
    let out = phone.register(
        &mut r,
        t0(),
        &["<sip:101@192.168.1.20:5062>;expires=120"],
        Some(30),
    );
    assert_eq!(code(&out), 200);
    assert_eq!(response_contacts(&out.response)[0].1, 120);
    let out = phone.register(&mut r, t0(), &[C1], Some(99_999));
    assert_eq!(code(&out), 200);
    assert_eq!(response_contacts(&out.response)[0].1, 3600);
    // Exactly the minimum is fine.
    let out = phone.register(&mut r, t0(), &[C1], Some(60));
    assert_eq!(response_contacts(&out.response)[0].1, 60);
    // Garbage Expires: 400, nothing changed.
    phone.cseq += 1;
    phone.nc += 1;
    let ch = phone.challenge.clone().unwrap();
    let auth = authorization(&ch, "REGISTER", "101", "s3cret", phone.nc);
    let text = register_text("101", "e", phone.cseq, &[C1], None, Some(&auth))
        .replace("Content-Length: 0", "Expires: soon\r\nContent-Length: 0");
    let out = r.handle_register(t0(), &parse_request(&text), phone_peer(PHONE));
    assert_eq!(code(&out), 400);
}

#[test]
fn several_contacts_refresh_and_remaining_expiry() {
    let mut r = registrar();
    let mut desk = Phone::new("101", "s3cret", "desk");
    let mut soft = Phone::new("101", "s3cret", "soft").md5();
    assert_eq!(code(&desk.register(&mut r, t0(), &[C1], Some(600))), 200);
    let out = soft.register(&mut r, after(100), &[C2], Some(700));
    assert_eq!(code(&out), 200);
    // §10.3 step 8: every binding with its remaining time.
    let mut listed = response_contacts(&out.response);
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("sip:101@10.9.9.9:5060;transport=TCP".to_string(), 700),
            ("sip:101@192.168.1.20:5062".to_string(), 500),
        ]
    );
    assert_eq!(r.bindings("andrew").len(), 2);
    // Refresh the desk phone: same Call-ID, higher CSeq → still two bindings, new expiry.
    let out = desk.register(&mut r, after(500), &[C1], Some(600));
    assert_eq!(code(&out), 200);
    let desk_binding = r
        .bindings("andrew")
        .into_iter()
        .find(|b| b.contact_uri == "sip:101@192.168.1.20:5062")
        .unwrap();
    assert_eq!(desk_binding.expires_at, after(1100));
    assert_eq!(r.bindings("andrew").len(), 2);
    // Two contacts in one REGISTER.
    let out = desk.register(
        &mut r,
        after(501),
        &["<sip:101@172.16.0.1>", "<sip:101@172.16.0.2>"],
        None,
    );
    assert_eq!(code(&out), 200);
    assert_eq!(response_contacts(&out.response).len(), 4);
    // A query (no Contact) lists the bindings and changes nothing.
    let out = desk.register(&mut r, after(502), &[], None);
    assert_eq!(code(&out), 200);
    assert_eq!(response_contacts(&out.response).len(), 4);
    assert!(out.writes.is_empty());
}

#[test]
fn out_of_order_cseq_changes_nothing() {
    let mut r = registrar();
    let mut phone = Phone::new("101", "s3cret", "o");
    phone.cseq = 10;
    assert_eq!(code(&phone.register(&mut r, t0(), &[C1], Some(600))), 200);
    let before = r.bindings("andrew");
    // Same Call-ID, lower CSeq (a delayed REGISTER): the update is aborted.
    phone.cseq = 3;
    let out = phone.register(&mut r, after(5), &[C1], Some(0));
    assert_eq!(code(&out), 500);
    assert!(out.writes.is_empty());
    assert_eq!(r.bindings("andrew"), before);
    // A different Call-ID (the phone rebooted) may replace it regardless of CSeq.
    let mut rebooted = Phone::new("101", "s3cret", "o2");
    let out = rebooted.register(&mut r, after(6), &[C1], Some(120));
    assert_eq!(code(&out), 200);
    assert_eq!(r.bindings("andrew")[0].expires_at, after(126));
}

#[test]
fn unregister_one_contact_then_all_with_star() {
    let mut r = registrar();
    let mut phone = Phone::new("101", "s3cret", "u");
    let _ = phone.register(&mut r, t0(), &[C1, C2, "<sip:101@172.16.0.3>"], None);
    assert_eq!(r.bindings("andrew").len(), 3);
    // Expires: 0 on one contact.
    let out = phone.register(
        &mut r,
        after(1),
        &["<sip:101@192.168.1.20:5062>;expires=0"],
        None,
    );
    assert_eq!(code(&out), 200);
    assert_eq!(
        out.writes,
        vec![StoreWrite::RemoveRegistration {
            manager: "andrew".into(),
            contact_uri: "sip:101@192.168.1.20:5062".into()
        }]
    );
    assert_eq!(response_contacts(&out.response).len(), 2);
    // `*` needs Expires: 0.
    let out = phone.register(&mut r, after(2), &["*"], Some(60));
    assert_eq!(code(&out), 400);
    let out = phone.register(&mut r, after(2), &["*", C1], Some(0));
    assert_eq!(code(&out), 400);
    let out = phone.register(&mut r, after(2), &["*"], Some(0));
    assert_eq!(code(&out), 200, "{}", out.response);
    assert_eq!(out.writes.len(), 2);
    assert!(response_contacts(&out.response).is_empty());
    assert!(!r.is_registered("andrew", after(2)));
    assert!(r.bindings("andrew").is_empty());
}

#[test]
fn bindings_expire() {
    let mut r = registrar();
    let _ = Phone::new("101", "s3cret", "x").register(&mut r, t0(), &[C1], Some(120));
    assert_eq!(r.poll_expiry(), Some(after(120)));
    assert!(r.is_registered("andrew", after(119)));
    // Not registered from the expiry instant on, even before expire() tidies up.
    assert!(!r.is_registered("andrew", after(120)));
    assert_eq!(r.active_bindings("andrew", after(120)), vec![]);
    assert!(r.expire(after(60)).is_empty());
    assert_eq!(
        r.expire(after(120)),
        vec![StoreWrite::RemoveExpiredRegistrations { now: after(120) }]
    );
    assert!(r.bindings("andrew").is_empty());
    assert_eq!(r.poll_expiry(), None);
    assert_eq!(r.registered_managers(after(120)), Vec::<String>::new());
}

fn persist_and_reload(store: &mut dyn Store) {
    let mut r = registrar();
    let mut all = Vec::new();
    let mut desk = Phone::new("101", "s3cret", "p1");
    let mut elena = Phone::new("elena", "pw-elena", "p2").md5();
    all.extend(
        desk.register(&mut r, t0(), &[C1, C2, "<sip:101@172.16.0.3>"], Some(900))
            .writes,
    );
    all.extend(
        elena
            .register(&mut r, after(1), &["<sip:elena@10.1.1.1>"], Some(100))
            .writes,
    );
    all.extend(
        desk.register(&mut r, after(2), &["<sip:101@172.16.0.3>;expires=0"], None)
            .writes,
    );
    all.extend(r.expire(after(200)));
    for w in &all {
        apply_write(store, w).unwrap();
    }
    // "Restart": a new registrar with a new secret, bindings loaded from the store.
    let mut restarted = Registrar::new([9; 32], REALM, users());
    restarted.load(store.registrations().unwrap());
    assert_eq!(restarted.bindings("andrew"), r.bindings("andrew"));
    assert_eq!(restarted.bindings("andrew").len(), 2);
    assert!(restarted.is_registered("andrew", after(200)));
    assert!(!restarted.is_registered("elena", after(200)));
    // The CSeq rule survives the restart too: an old REGISTER cannot undo the binding.
    desk.challenge = None;
    desk.cseq = 0;
    let out = desk.register(&mut restarted, after(201), &[C1], Some(0));
    assert_eq!(code(&out), 500);
    desk.cseq += 10;
    let out = desk.register(&mut restarted, after(202), &[C1], Some(0));
    assert_eq!(code(&out), 200);
    assert_eq!(restarted.bindings("andrew").len(), 1);
    for w in &out.writes {
        apply_write(store, w).unwrap();
    }
}

#[test]
fn bindings_survive_a_restart_memory_store() {
    persist_and_reload(&mut MemoryStore::new());
}

#[test]
fn bindings_survive_a_restart_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.sqlite");
    {
        let mut store = SqliteStore::open(&path).unwrap();
        persist_and_reload(&mut store);
    }
    // Reopened file: the bindings are still there.
    let store = SqliteStore::open(&path).unwrap();
    let regs = store.registrations().unwrap();
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].contact_uri, "sip:101@10.9.9.9:5060;transport=TCP");
}

#[test]
fn authenticate_request_for_invites_from_phones() {
    let mut r = registrar();
    let invite = |auth: Option<&str>| {
        let text = format!(
            "INVITE sip:5551234@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bKi1\r\n\
             From: <sip:101@127.0.0.1>;tag=a\r\nTo: <sip:5551234@127.0.0.1>\r\nCall-ID: inv1\r\n\
             CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{}Content-Length: 0\r\n\r\n",
            auth.map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default()
        );
        parse_request(&text)
    };
    let resp = r
        .authenticate_request(t0(), &invite(None), phone_peer(PHONE).addr.ip())
        .unwrap_err();
    assert_eq!(resp.status_code.code(), 401);
    let ch = challenges(&resp);
    assert_eq!(ch.len(), 2);
    let good = authorization(&ch[0], "INVITE", "101", "s3cret", 1);
    assert_eq!(
        r.authenticate_request(t0(), &invite(Some(&good)), phone_peer(PHONE).addr.ip())
            .unwrap(),
        "andrew"
    );
    // A digest computed for REGISTER does not authenticate an INVITE.
    let wrong_method = authorization(&ch[1], "REGISTER", "101", "s3cret", 2);
    let resp = r
        .authenticate_request(
            t0(),
            &invite(Some(&wrong_method)),
            phone_peer(PHONE).addr.ip(),
        )
        .unwrap_err();
    assert_eq!(resp.status_code.code(), 403);
}

#[test]
fn junk_authorization_never_panics() {
    let mut r = registrar();
    for junk in [
        "Digest",
        "Digest username=",
        "Digest username=\"101\", realm=\"switchboard\", nonce=\"00\", uri=\"x\", response=\"y\"",
        "Digest username=\"101\", realm=\"switchboard\", nonce=\"zz\", uri=\"x\", response=\"y\", qop=auth, nc=ffffffff, cnonce=a",
        "Basic abc",
        "Digest realm=\"other\", username=a, nonce=b, uri=c, response=d",
        "Digest username=\"101\", realm=\"switchboard\", nonce=\"a\", uri=\"x\", response=\"y\", qop=auth-int, nc=00000001, cnonce=a",
        "Digest username=\"101\", realm=\"switchboard\", nonce=\"a\", uri=\"x\", response=\"y\", algorithm=SHA-512",
    ] {
        let req = register("101", "j", 1, &[C1], None, Some(junk));
        let out = r.handle_register(t0(), &req, phone_peer(PHONE));
        assert_eq!(code(&out), 401, "{junk}");
    }
}

#[test]
fn algorithm_order_and_choice_are_configurable() {
    use switchboard::registrar::RegistrarConfig;
    use switchboard::registrar::digest::Algorithm;
    let cfg = RegistrarConfig {
        algorithms: vec![Algorithm::Md5],
        ..Default::default()
    };
    let mut r = Registrar::with_config([42; 32], REALM, users(), cfg);
    let out = r.handle_register(
        t0(),
        &register("101", "a", 1, &[C1], None, None),
        phone_peer(PHONE),
    );
    let ch = challenges(&out.response);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].algorithm, "MD5");
    // SHA-256 credentials are not accepted when SHA-256 is not offered: re-challenge.
    let mut sha = ch[0].clone();
    sha.algorithm = "SHA-256".into();
    let auth = authorization(&sha, "REGISTER", "101", "s3cret", 1);
    let out = r.handle_register(
        t0(),
        &register("101", "a", 2, &[C1], None, Some(&auth)),
        phone_peer(PHONE),
    );
    assert_eq!(code(&out), 401);
    // Legacy order: MD5 first, both offered; empty means the default.
    let cfg = RegistrarConfig {
        algorithms: vec![Algorithm::Md5, Algorithm::Sha256, Algorithm::Md5],
        ..Default::default()
    };
    let r = Registrar::with_config([42; 32], REALM, users(), cfg);
    assert_eq!(r.config().algorithms, [Algorithm::Md5, Algorithm::Sha256]);
    let cfg = RegistrarConfig {
        algorithms: vec![],
        ..Default::default()
    };
    let r = Registrar::with_config([42; 32], REALM, users(), cfg);
    assert_eq!(r.config().algorithms, [Algorithm::Sha256, Algorithm::Md5]);
}

/// RFC 3327: a phone registering through a proxy (Kamailio in front of several
/// instances) keeps the proxy's Path with its binding, in order, and gets it back in
/// the 200; INVITEs then go through the first entry (see `endpoint::register`).
#[test]
fn path_from_a_proxy_is_stored_with_the_binding_and_echoed() {
    let mut r = registrar();
    let mut phone = Phone::new("101", "s3cret", "path").md5();
    let with_path = |mut req: rsip::Request| {
        let text = req.to_string().replacen(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 69\r\nPath: <sip:10.1.1.1;lr;received=sip:198.51.100.7:40312>, <sip:10.1.1.2;lr>\r\n",
            1,
        );
        req = parse_request(&text);
        req
    };
    let out = r.handle_register(
        t0(),
        &with_path(phone.request(&[C1], None)),
        phone_peer(PHONE),
    );
    assert_eq!(code(&out), 401);
    phone.learn(&out);
    let out = r.handle_register(
        t0(),
        &with_path(phone.request(&[C1], None)),
        phone_peer(PHONE),
    );
    assert_eq!(code(&out), 200, "{}", out.response);
    let want = vec![
        "<sip:10.1.1.1;lr;received=sip:198.51.100.7:40312>".to_string(),
        "<sip:10.1.1.2;lr>".to_string(),
    ];
    let [StoreWrite::SaveRegistration(reg)] = out.writes.as_slice() else {
        panic!("{:?}", out.writes);
    };
    assert_eq!(reg.path, want);
    assert_eq!(r.bindings("andrew")[0].path, want);
    let text = out.response.to_string();
    assert!(
        text.contains("Path: <sip:10.1.1.1;lr;received=sip:198.51.100.7:40312>\r\n")
            && text.contains("Path: <sip:10.1.1.2;lr>\r\n"),
        "{text}"
    );
}

/// A digest response without `qop` (RFC 2069 style), as a capture would show it.
fn legacy_authorization(ch: &Challenge, user: &str, password: &str) -> String {
    use switchboard::registrar::digest::{self, Algorithm, DigestInput};
    let algorithm = Algorithm::from_token(&ch.algorithm).unwrap();
    let uri = "sip:127.0.0.1";
    let response = digest::response(&DigestInput {
        algorithm,
        username: user,
        realm: &ch.realm,
        password,
        method: "REGISTER",
        uri,
        nonce: &ch.nonce,
        qop_auth: None,
    });
    format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={}",
        ch.realm, ch.nonce, ch.algorithm
    )
}

/// Issue 11 item 3: a brute-force run is locked out after 5 wrong passwords, and the
/// right password is refused too while the lockout lasts; afterwards it works.
#[test]
fn brute_force_is_locked_out_and_the_right_password_waits_for_the_lockout() {
    let mut r = registrar();
    let evil = "192.0.2.66:5060";
    let first = r.handle_register(
        t0(),
        &register("101", "bf", 1, &[C1], None, None),
        phone_peer(evil),
    );
    let ch = challenges(&first.response)[0].clone();
    let mut codes = Vec::new();
    for (i, guess) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
        let auth = authorization(&ch, "REGISTER", "101", guess, i as u32 + 1);
        let req = register("101", "bf", i as u32 + 2, &[C1], None, Some(&auth));
        codes.push(code(&r.handle_register(
            after(i as i64),
            &req,
            phone_peer(evil),
        )));
    }
    assert_eq!(codes, vec![403; 7]);
    let stats = r.take_auth_stats();
    assert_eq!(
        (stats.auth_failures, stats.lockouts),
        (5, 2),
        "source and login locked"
    );
    // The right password from the attacker's address during the lockout: refused.
    let auth = authorization(&ch, "REGISTER", "101", "s3cret", 20);
    let req = register("101", "bf", 20, &[C1], None, Some(&auth));
    assert_eq!(
        code(&r.handle_register(after(10), &req, phone_peer(evil))),
        403
    );
    // The login is locked from everywhere, even the real phone with the right password.
    let mut phone = Phone::new("101", "s3cret", "real");
    assert_eq!(code(&phone.register(&mut r, after(11), &[C1], None)), 403);
    assert!(r.take_auth_stats().auth_locked_refused >= 2);
    // After the lockout (60 s) the phone registers.
    let mut phone = Phone::new("101", "s3cret", "real2");
    assert_eq!(code(&phone.register(&mut r, after(70), &[C1], None)), 200);
}

/// Issue 11 item 5: a response without qop is refused (re-challenged), and even with
/// `allow_legacy_digest` a response captured from one address does not register
/// another address: the nonce is bound to its source.
#[test]
fn no_qop_responses_and_replays_from_another_address_are_refused() {
    let mut r = registrar();
    let first = r.handle_register(
        t0(),
        &register("101", "lg", 1, &[C1], None, None),
        phone_peer(PHONE),
    );
    let ch = challenges(&first.response)[0].clone();
    let legacy = legacy_authorization(&ch, "101", "s3cret");
    let req = register("101", "lg", 2, &[C1], None, Some(&legacy));
    assert_eq!(
        code(&r.handle_register(after(1), &req, phone_peer(PHONE))),
        401
    );

    let mut r = Registrar::with_config(
        [42; 32],
        REALM,
        users(),
        switchboard::registrar::RegistrarConfig {
            allow_legacy_digest: true,
            ..Default::default()
        },
    );
    let first = r.handle_register(
        t0(),
        &register("101", "lg", 1, &[C1], None, None),
        phone_peer(PHONE),
    );
    let ch = challenges(&first.response)[0].clone();
    let legacy = legacy_authorization(&ch, "101", "s3cret");
    let req = register("101", "lg", 2, &[C1], None, Some(&legacy));
    assert_eq!(
        code(&r.handle_register(after(1), &req, phone_peer(PHONE))),
        200
    );
    // The captured request, replayed from another address with a new Call-ID and
    // Contact: a fresh challenge, no binding.
    let evil = "127.0.0.2:5099";
    let replay = register(
        "101",
        "other",
        1,
        &["<sip:101@127.0.0.2:5099>"],
        None,
        Some(&legacy),
    );
    let out = r.handle_register(after(2), &replay, phone_peer(evil));
    assert_eq!(code(&out), 401);
    assert!(out.writes.is_empty());
    assert_eq!(r.bindings("andrew").len(), 1);
    // The same with qop=auth and a higher nonce count: also refused from elsewhere.
    let auth = authorization(&ch, "REGISTER", "101", "s3cret", 9);
    let replay = register(
        "101",
        "other",
        2,
        &["<sip:101@127.0.0.2:5099>"],
        None,
        Some(&auth),
    );
    assert_eq!(
        code(&r.handle_register(after(3), &replay, phone_peer(evil))),
        401
    );
}
