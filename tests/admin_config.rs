//! `[server]` keys checked when the config loads: the admin API's `http_listen` and
//! `admin_token`, listeners against the RTP port range, `session_expires_secs`,
//! `dialled_number`.

use std::path::Path;

use switchboard::config;

fn server(text: &str) -> Result<config::ServerConfig, String> {
    config::load_str(text, Path::new("test.toml"), None)
        .map(|l| l.server)
        .map_err(|e| e.to_string())
}

#[test]
fn defaults_to_loopback_without_token() {
    let s = server("[server]\n").unwrap();
    assert_eq!(s.http_listen, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(s.admin_token, None);
}

#[test]
fn address_off_and_token() {
    let s = server("[server]\nhttp_listen = \"0.0.0.0:9000\"\nadmin_token = \"s3cret\"\n").unwrap();
    assert_eq!(s.http_listen, Some("0.0.0.0:9000".parse().unwrap()));
    assert_eq!(s.admin_token.as_deref(), Some("s3cret"));
    assert_eq!(
        server("[server]\nhttp_listen = \"off\"\n")
            .unwrap()
            .http_listen,
        None
    );
    let e = server("[server]\nhttp_listen = \"localhost\"\n").unwrap_err();
    assert!(e.contains("must be an address like 127.0.0.1:8080"), "{e}");
}

#[test]
fn sip_port_inside_rtp_ports_is_refused_with_line_and_fix() {
    let text = "[server]\nsip_listen = \"127.0.0.1:25060\"\nrtp_ports = \"20000-27999\"\n";
    let e = server(text).unwrap_err();
    assert!(
        e.contains("test.toml:3: rtp_ports 20000-27999 contains port 25060, which sip_listen uses"),
        "{e}"
    );
    assert!(e.contains("(for example \"25062-33061\")"), "{e}");
    // Next to the range is fine, and so are TCP listeners (TLS, HTTP) inside it.
    server("[server]\nsip_listen = \"127.0.0.1:19998\"\nrtp_ports = \"20000-27999\"\n").unwrap();
    server(
        "[server]\nsip_listen = \"127.0.0.1:5060\"\nrtp_ports = \"20000-27999\"\n\
         http_listen = \"127.0.0.1:21000\"\n",
    )
    .unwrap();
}

#[test]
fn session_expires_secs_is_off_or_at_least_rfc_4028s_minimum() {
    assert_eq!(server("[server]\n").unwrap().session_expires_secs, 1800);
    assert_eq!(
        server("[server]\nsession_expires_secs = 0\n")
            .unwrap()
            .session_expires_secs,
        0
    );
    let e = server("[server]\nsession_expires_secs = 60\n").unwrap_err();
    assert!(e.contains("test.toml:2"), "{e}");
    assert!(
        e.contains("session_expires_secs = 60 must be 0 (no session timers) or between 90"),
        "{e}"
    );
}

#[test]
fn dialled_number_is_the_request_uri_or_the_original() {
    use switchboard::sip::redirect::DialledNumber;
    assert_eq!(
        server("[server]\n").unwrap().dialled_number,
        DialledNumber::RequestUri
    );
    assert_eq!(
        server("[server]\ndialled_number = \"original\"\n")
            .unwrap()
            .dialled_number,
        DialledNumber::Original
    );
    let e = server("[server]\ndialled_number = \"diversion\"\n").unwrap_err();
    assert!(e.contains("test.toml:2"), "{e}");
    assert!(e.contains("request_uri") && e.contains("original"), "{e}");
}
