//! SIP over TLS and SRTP with real peers (issue 17).
//!
//! - baresip (Debian `baresip-core`) registers over TLS, trusting a CA the test makes
//!   (rcgen), and is rung for a bridged call with SRTP (`RTP/SAVP`, SDES); the caller
//!   is SIPp over TLS (`-t l1`, verifying the router's certificate) with plain RTP, so
//!   the relay decrypts and encrypts; baresip's recording of what it heard holds the
//!   caller's audio. Debian bookworm's SIPp has no TLS, so the caller is unstable's
//!   SIPp 3.8, unpacked by `.ci/sipp-tls`.
//! - Certificate problems (missing file, expired, wrong name) stop the start with a
//!   clear error; a reload with a bad certificate is refused and the listener keeps
//!   serving the old one; a good reload serves the new one at the next handshake.
//! - A TLS handshake that never comes is cut after `tls_handshake_secs`.
mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};

/// A test certificate authority and the certificates it signs.
struct Pki {
    dir: tempfile::TempDir,
    ca_params: rcgen::CertificateParams,
    ca_key: rcgen::KeyPair,
    ca_pem: String,
}

/// A leaf certificate written to `NAME.crt` / `NAME.key` in the PKI's directory.
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Switchboard test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki {
            dir,
            ca_params,
            ca_key,
            ca_pem: ca.pem(),
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for `names`, valid from `from` to `until` (years).
    fn leaf(&self, file: &str, names: &[&str], from: i32, until: i32) -> Leaf {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("x"),
        );
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(until, 1, 1);
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let leaf = Leaf {
            cert: self.dir.path().join(format!("{file}.crt")),
            key: self.dir.path().join(format!("{file}.key")),
            der: cert.der().to_vec(),
        };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }

    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for der in rustls::pki_types::pem::PemObject::pem_slice_iter(self.ca_pem.as_bytes()) {
            let der: CertificateDer<'static> = der.unwrap();
            roots.add(der).unwrap();
        }
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    }

    /// Handshakes with `addr` as `name`, verifying against the CA; the certificate it
    /// served (DER).
    fn served(&self, addr: SocketAddr, name: &str) -> Result<Vec<u8>, String> {
        let mut conn = rustls::ClientConnection::new(
            self.client_config(),
            ServerName::try_from(name.to_string()).unwrap(),
        )
        .unwrap();
        let mut sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
        }
        Ok(conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default())
    }
}

fn tls_keys(leaf: &Leaf, port: u16) -> String {
    format!(
        "sip_tls_listen = \"127.0.0.1:{port}\"\ntls_certificate = \"{}\"\ntls_private_key = \"{}\"\n\
         tls_server_name = \"switchboard.test\"\ntls_handshake_secs = 2\ndigest_algorithms = [\"MD5\"]\n",
        leaf.cert.display(),
        leaf.key.display()
    )
}

/// Runs `switchboard run` on `config`, which must fail to start: its output.
fn start_fails(config: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--config"])
        .arg(config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            assert!(!status.success(), "started anyway:\n{out}");
            return out;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("switchboard started with a bad certificate");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config_with(dir: &Path, p: Ports, tls: &str) -> PathBuf {
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nsip_listen = \"127.0.0.1:{}\"\nhttp_listen = \"off\"\nrtp_ports = \"{}-{}\"\n\
             prompts_dir = \"{}\"\ndata_dir = \"{}\"\n{tls}\n",
            p.sip,
            p.rtp_low,
            p.rtp_high,
            repo().join("prompts").display(),
            dir.join("data").display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn certificate_problems_stop_the_start_with_a_clear_error() {
    let pki = Pki::new();
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    let tls_port = p.sip + 1;
    let good = pki.leaf("good", &["switchboard.test", "127.0.0.1"], 2020, 4000);
    let expired = pki.leaf("expired", &["switchboard.test"], 2020, 2021);
    let wrong = pki.leaf("wrong", &["other.example"], 2020, 4000);

    let missing = Leaf {
        cert: dir.path().join("nowhere.crt"),
        key: good.key.clone(),
        der: Vec::new(),
    };
    let out = start_fails(&config_with(dir.path(), p, &tls_keys(&missing, tls_port)));
    assert!(
        out.contains("nowhere.crt does not exist") && out.contains("tls_certificate"),
        "missing file:\n{out}"
    );

    let config = config_with(dir.path(), p, &tls_keys(&expired, tls_port));
    let out = start_fails(&config);
    assert!(
        out.contains("expired on 2021-01-01") && out.contains("expired.crt"),
        "expired:\n{out}"
    );
    // `switchboard check` finds it too, before a restart does.
    let (ok, _, err) = switchboard(&["check", "--config", config.to_str().unwrap()]);
    assert!(
        !ok && err.contains("expired on 2021-01-01"),
        "check:\n{err}"
    );

    let out = start_fails(&config_with(dir.path(), p, &tls_keys(&wrong, tls_port)));
    assert!(
        out.contains("not valid for tls_server_name \"switchboard.test\"")
            && out.contains("other.example"),
        "wrong name:\n{out}"
    );

    // A key that is not the certificate's.
    let mismatched = Leaf {
        cert: good.cert.clone(),
        key: wrong.key.clone(),
        der: Vec::new(),
    };
    let out = start_fails(&config_with(
        dir.path(),
        p,
        &tls_keys(&mismatched, tls_port),
    ));
    assert!(
        out.contains("does not belong to the certificate"),
        "key mismatch:\n{out}"
    );
}

#[test]
fn a_failed_reload_keeps_the_old_certificate_and_a_good_one_replaces_it() {
    let _g = serial();
    let pki = Pki::new();
    let p = ports();
    let tls_port = p.sip + 1;
    let tls_addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let first = pki.leaf("first", &["switchboard.test"], 2020, 4000);
    let router = Router::start(p, &tls_keys(&first, tls_port), "");
    router.wait_for_log("listening for SIP over TLS", Duration::from_secs(5));
    assert_eq!(pki.served(tls_addr, "switchboard.test").unwrap(), first.der);

    // The renewal went wrong: an expired certificate under the same file name.
    let expired = pki.leaf("expired", &["switchboard.test"], 2020, 2021);
    std::fs::copy(&expired.cert, &first.cert).unwrap();
    std::fs::copy(&expired.key, &first.key).unwrap();
    let reloads = router.count("configuration NOT reloaded");
    Command::new("kill")
        .args(["-HUP", &router.pid().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    while router.count("configuration NOT reloaded") == reloads
        && start.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = router.log();
    assert!(
        log.contains("configuration NOT reloaded") && log.contains("expired on 2021-01-01"),
        "the reload must be refused with the reason:\n{log}"
    );
    assert_eq!(
        pki.served(tls_addr, "switchboard.test").unwrap(),
        first.der,
        "the listener keeps its old certificate"
    );

    // A good renewal is served from the next handshake on.
    let second = pki.leaf("second", &["switchboard.test"], 2020, 4000);
    std::fs::copy(&second.cert, &first.cert).unwrap();
    std::fs::copy(&second.key, &first.key).unwrap();
    Command::new("kill")
        .args(["-HUP", &router.pid().to_string()])
        .status()
        .unwrap();
    router.wait_for_log("TLS certificate reloaded", Duration::from_secs(10));
    assert_eq!(
        pki.served(tls_addr, "switchboard.test").unwrap(),
        second.der
    );
}

#[test]
fn a_silent_tls_client_is_cut_after_the_handshake_timeout() {
    let _g = serial();
    let pki = Pki::new();
    let p = ports();
    let tls_port = p.sip + 1;
    let leaf = pki.leaf("srv", &["switchboard.test"], 2020, 4000);
    let router = Router::start(p, &tls_keys(&leaf, tls_port), "");
    router.wait_for_log("listening for SIP over TLS", Duration::from_secs(5));
    let mut sock = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = sock.read(&mut buf).unwrap_or(0);
    let waited = start.elapsed();
    assert_eq!(n, 0, "the router closes the connection");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "closed after {waited:?}, tls_handshake_secs = 2"
    );
}

/// baresip's account and config: registers over TLS to the router (trusting the test
/// CA), SRTP mandatory (`RTP/SAVP`), auto-answer, recording what it hears.
fn baresip_home(dir: &Path, p: Ports, pki: &Pki, tls_port: u16) {
    let (phone_port, media) = p.phone(0);
    std::fs::write(
        dir.join("config"),
        format!(
            "poll_method\tepoll\nnet_interface\t127.0.0.1\nsip_listen\t127.0.0.1:{phone_port}\n\
             sip_cafile\t{}\naudio_player\taufile,/dev/null\naudio_source\taufile,{}\n\
             ausrc_srate\t8000\nauplay_srate\t8000\nrtp_ports\t{media}-{}\n\
             module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule\taufile.so\n\
             module\tsndfile.so\nmodule\tsrtp.so\nsnd_path\t{}\nmodule_tmp\taccount.so\n",
            pki.ca_file().display(),
            repo().join("prompts/support_menu.wav").display(),
            media + 3,
            dir.display(),
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!(
            "<sip:102@127.0.0.1:{tls_port};transport=tls>;auth_pass=pw-elena-102;regint=600;\
             answermode=auto;mediaenc=srtp-mand;audio_codecs=PCMU\n"
        ),
    )
    .unwrap();
}

/// The samples of baresip's recording of what it received (`dump-*-dec.wav`).
fn heard(dir: &Path) -> Vec<i16> {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("baresip wrote no recording in {}", dir.display()));
    hound::WavReader::open(file)
        .unwrap()
        .samples::<i16>()
        .filter_map(Result::ok)
        .collect()
}

#[test]
fn baresip_over_tls_hears_a_tls_caller_through_the_srtp_relay() {
    let bin = require("baresip", "baresip-core");
    let _g = serial();
    let pki = Pki::new();
    let p = ports();
    let tls_port = p.sip + 1;
    let leaf = pki.leaf("srv", &["switchboard.test", "127.0.0.1"], 2020, 4000);
    let plan = "[[numbers]]\nnumber = \"2000\"\nsource = \"ads\"\naction = \"department:sales\"\n\
                [departments.sales]\nmembers = [\"elena\"]\n\
                [managers.elena]\nextension = \"102\"\npassword = \"pw-elena-102\"\nsrtp = \"required\"\n";
    let mut router = Router::start(p, &tls_keys(&leaf, tls_port), plan);
    router.wait_for_log("listening for SIP over TLS", Duration::from_secs(5));

    let home = tempfile::tempdir().unwrap();
    baresip_home(home.path(), p, &pki, tls_port);
    let phone_log = home.path().join("baresip.log");
    let mut phone = Command::new(bin)
        .arg("-f")
        .arg(home.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&phone_log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let registered = Instant::now();
    while !router.log().contains("REGISTER answered 200")
        && registered.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(100));
    }

    let tmp = tempfile::tempdir().unwrap();
    let caller_audio = ulaw_file(tmp.path(), "main_menu");
    // The caller's own certificate (SIPp presents one even as a client).
    let caller_leaf = pki.leaf("caller", &["caller.test"], 2020, 4000);
    // Garbage towards the phone's SRTP leg while the call is up: dropped and counted.
    let attacker = std::thread::spawn({
        let router_log = router.log_path.clone();
        move || {
            let start = Instant::now();
            let port = loop {
                let log = std::fs::read_to_string(&router_log).unwrap_or_default();
                if let Some(port) = log
                    .lines()
                    .find(|l| l.starts_with("m=audio") && l.contains("RTP/SAVP"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u16>().ok())
                    && log.contains("RTP relay started")
                {
                    break port;
                }
                if start.elapsed() > Duration::from_secs(20) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..30u8 {
                // An RTP header (PT 0) and a payload with a made-up tag.
                let mut pkt = vec![0x80, 0x00, 0x00, i, 0, 0, 0, i, 0xde, 0xad, 0xbe, 0xef];
                pkt.extend(std::iter::repeat_n(i, 170));
                let _ = sock.send_to(&pkt, ("127.0.0.1", port));
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });
    let ca = pki.ca_file().display().to_string();
    let res = sipp_tls(
        p,
        tls_port,
        "uac_listen_rtp.xml",
        &caller_leaf.cert,
        &caller_leaf.key,
        &[
            // SIPp verifies the router's certificate against the test's CA.
            "-tls_ca",
            &ca,
            "-s",
            "2000",
            "-d",
            "9000",
            "-key",
            "caller_audio",
            &format!("{},-1,0", caller_audio.display()),
        ],
    );
    let _ = attacker.join();
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = http_get(p, "/metrics");
    let _ = Command::new("kill")
        .args(["-TERM", &phone.id().to_string()])
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) && matches!(phone.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = phone.kill();
    let _ = phone.wait();
    router.stop();
    let log = router.log();
    let phone_text = std::fs::read_to_string(&phone_log).unwrap_or_default();
    res.assert_ok(&router);

    // Signalling: the caller over TLS, the phone rung over the connection it
    // registered on (RFC 5923), its leg SRTP.
    assert!(
        log.contains("via 127.0.0.1") && log.contains("(TLS) codec=Pcmu media=RTP"),
        "the caller came over TLS with plain RTP:\n{log}"
    );
    assert!(
        log.contains("elena's leg is SRTP (AES_CM_128_HMAC_SHA1_80)"),
        "phone leg not SRTP:\n{log}\nbaresip:\n{phone_text}"
    );
    assert!(
        !log.contains("opening a SIP/TLS connection"),
        "the phone must be rung over its registered connection:\n{log}"
    );
    assert!(
        phone_text.contains("Call established"),
        "baresip:\n{phone_text}"
    );

    // Media: what baresip decrypted and decoded holds the caller's audio, frame for
    // frame (both legs PCMU: the relay passes the payload through, re-encrypted).
    let mut caller_frames = std::collections::HashSet::new();
    for frame in std::fs::read(&caller_audio).unwrap().chunks_exact(160) {
        let mut pcm = [0i16; 160];
        switchboard::media::g711::decode(switchboard::media::Law::Ulaw, frame, &mut pcm);
        caller_frames.insert(pcm.to_vec());
    }
    let samples = heard(home.path());
    // Walk the recording: a frame that matches counts and is skipped whole, anything
    // else moves one sample on (a lost packet or the jitter buffer shifts the frames).
    let (mut matching, mut i) = (0, 0);
    while let Some(chunk) = samples.get(i..i + 160) {
        if caller_frames.contains(chunk) {
            matching += 1;
            i += 160;
        } else {
            i += 1;
        }
    }
    println!(
        "baresip heard {} samples; {matching} 20 ms frames identical to the caller's audio",
        samples.len()
    );
    assert!(
        matching >= 50,
        "baresip should hear the caller: only {matching} frames of {} match\n{log}",
        samples.len() / 160
    );

    // The forged packets were dropped and counted, not relayed. They come from a port
    // of their own: once the leg is latched to baresip that is a stranger's address
    // (counted as foreign); before, they fail authentication (counted as SRTP).
    assert!(
        metrics.contains("switchboard_srtp_dropped_total{reason=\"auth\"}")
            || metrics.contains("switchboard_rtp_foreign_dropped_total"),
        "forged SRTP not counted:\n{metrics}"
    );
    assert!(
        metrics.contains("switchboard_tls_handshakes_total{result=\"ok\"}"),
        "{metrics}"
    );
}

/// A manager whose phone is reached at a static `transport=tls` contact: a baresip
/// serving `leaf` on its TLS port, SRTP optional (`mediaenc=srtp`). One caller (sipp,
/// UDP) rings it; returns the router's log.
fn ring_a_tls_phone(pki: &Pki, leaf: &Leaf, client_side: &str) -> String {
    let bin = require("baresip", "baresip-core");
    let p = ports();
    let (phone_port, media) = p.phone(0);
    let home = tempfile::tempdir().unwrap();
    let mut both = std::fs::read_to_string(&leaf.cert).unwrap();
    both.push_str(&std::fs::read_to_string(&leaf.key).unwrap());
    std::fs::write(home.path().join("both.pem"), both).unwrap();
    std::fs::write(
        home.path().join("config"),
        format!(
            "poll_method\tepoll\nnet_interface\t127.0.0.1\nsip_listen\t127.0.0.1:{phone_port}\n\
             sip_certificate\t{}\naudio_player\taufile,/dev/null\naudio_source\taufile,{}\n\
             rtp_ports\t{media}-{}\nmodule_path\t/usr/lib/baresip/modules\nmodule\tg711.so\n\
             module\taufile.so\nmodule\tsrtp.so\nmodule_tmp\taccount.so\n",
            home.path().join("both.pem").display(),
            repo().join("prompts/support_menu.wav").display(),
            media + 3,
        ),
    )
    .unwrap();
    std::fs::write(
        home.path().join("accounts"),
        "<sip:102@127.0.0.1;transport=tls>;regint=0;answermode=auto;mediaenc=srtp;audio_codecs=PCMU\n",
    )
    .unwrap();
    let mut phone = Command::new(bin)
        .arg("-f")
        .arg(home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let router_leaf = pki.leaf("router", &["switchboard.test"], 2020, 4000);
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\nsource = \"ads\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\"]\n\
         [managers.andrew]\nextension = \"101\"\ncontact = \"sip:102@127.0.0.1:{};transport=tls\"\n",
        phone_port + 1
    );
    let mut router = Router::start(
        p,
        &format!("{}{client_side}\n", tls_keys(&router_leaf, p.sip + 1)),
        &plan,
    );
    std::thread::sleep(Duration::from_millis(500));
    let _ = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "6000"]);
    let _ = phone.kill();
    let _ = phone.wait();
    router.stop();
    router.log()
}

#[test]
fn phones_reached_over_tls_are_verified_against_the_ca_file() {
    let _g = serial();
    let pki = Pki::new();
    let phone_leaf = pki.leaf("phone", &["phone.test"], 2020, 4000);
    let ca = format!(
        "tls_ca_file = \"{}\"\ntls_peer_names = {{ \"127.0.0.1\" = \"phone.test\" }}",
        pki.ca_file().display()
    );

    // Trusted CA and the right name: the call is answered, SRTP optional over TLS.
    let log = ring_a_tls_phone(&pki, &phone_leaf, &ca);
    assert!(
        log.contains("TLS connection opened, certificate verified"),
        "verified connection expected:\n{log}"
    );
    assert!(
        log.contains("andrew answered after"),
        "not answered:\n{log}"
    );
    assert!(
        log.contains("andrew's leg is SRTP (AES_CM_128_HMAC_SHA1_80)"),
        "optional SRTP over TLS should be taken by baresip (mediaenc=srtp):\n{log}"
    );

    // Default trust (the Mozilla roots) does not know the test CA: the handshake fails
    // with the reason, and the ring ends at once instead of after Timer B (32 s).
    let log = ring_a_tls_phone(&pki, &phone_leaf, "");
    assert!(
        log.contains("is not signed by an authority we trust: add its CA to [server] tls_ca_file"),
        "{log}"
    );
    assert!(!log.contains("andrew answered"), "{log}");
    let at = |needle: &str| {
        let line = log.lines().find(|l| l.contains(needle)).unwrap_or_default();
        line.split_whitespace()
            .next()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{log}"))
    };
    let failed_after = at("cannot open a SIP/TLS connection").duration_since(at("ringing andrew"));
    assert!(
        failed_after < jiff::SignedDuration::from_secs(5),
        "the ring must fail at once, not after Timer B: {failed_after:?}"
    );

    // The wrong name: told which name to configure.
    let other = "tls_ca_file = \"CA\"\ntls_peer_names = { \"127.0.0.1\" = \"other.test\" }"
        .replace("CA", &pki.ca_file().display().to_string());
    let log = ring_a_tls_phone(&pki, &phone_leaf, &other);
    assert!(
        log.contains(
            "is not valid for \"other.test\": set the name it carries in [server] tls_peer_names"
        ),
        "{log}"
    );

    // Verification off: connects, but an ERROR at start and a WARN per connection.
    let log = ring_a_tls_phone(&pki, &phone_leaf, "tls_verify_peers = false");
    assert!(
        log.contains("ERROR") && log.contains("tls_verify_peers = false"),
        "{log}"
    );
    assert!(
        log.contains("TLS connection opened WITHOUT verifying the peer's certificate"),
        "{log}"
    );
    assert!(log.contains("andrew answered after"), "{log}");
}
