//! The `[server]` keys of the admin API: `http_listen` and `admin_token`.

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
