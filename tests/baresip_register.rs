//! Real peer: baresip 1.0 (Debian `baresip-core`) registers with the default digest
//! offer (issue 18). Its libre 1.1 walks every `WWW-Authenticate` and gives up on the
//! first one that is not MD5, whatever the order; it retries about 30–60 s later on the
//! same Call-ID, without credentials, and Switchboard then offers MD5 alone
//! (`registrar::offer`). So this test takes up to a minute and a half.
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const PLAN: &str = r#"
[managers.elena]
extension = "102"
password = "pw-elena-102"
"#;

#[test]
fn baresip_registers_with_the_default_digest_offer() {
    let bin = require("baresip", "baresip-core");
    let _g = serial();
    let p = ports();
    let router = Router::start(p, "", PLAN);
    let (phone_port, _) = p.phone(0);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config"),
        format!(
            "poll_method\tepoll\nnet_interface\t127.0.0.1\nsip_listen\t127.0.0.1:{phone_port}\n\
             audio_player\taufile,/dev/null\naudio_source\taufile,/dev/null\n\
             module_path\t/usr/lib/baresip/modules\nmodule\tg711.so\nmodule_tmp\taccount.so\n"
        ),
    )
    .unwrap();
    std::fs::write(
        home.path().join("accounts"),
        format!(
            "<sip:102@127.0.0.1:{}>;auth_pass=pw-elena-102;regint=600\n",
            p.sip
        ),
    )
    .unwrap();
    let log_path = home.path().join("baresip.log");
    let mut phone = Command::new(bin)
        .arg("-f")
        .arg(home.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !router.log().contains("REGISTER answered 200")
        && start.elapsed() < Duration::from_secs(100)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = phone.kill();
    let _ = phone.wait();
    let log = router.log();
    let phone_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        log.contains("REGISTER answered 200"),
        "baresip never registered after {:?}:\n{log}\nbaresip:\n{phone_log}",
        start.elapsed()
    );
    println!("baresip registered after {:?}", start.elapsed());
    assert!(
        log.contains("offering MD5 alone from now on"),
        "expected the MD5-alone fallback:\n{log}"
    );
}
