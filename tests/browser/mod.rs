//! Driving headless Chromium from a test: the Chrome DevTools Protocol over
//! `--remote-debugging-pipe` (NUL-terminated JSON on the browser's fds 3 and 4, here two
//! FIFOs the shell redirects), so a test can click buttons, type and read the DOM of a
//! page that keeps running — what `--dump-dom` cannot do. Standard library and
//! serde_json only: no WebSocket client, no Node.
//!
//! Needs Debian's `chromium` (`apt-get install -y --no-install-recommends chromium`);
//! fails rather than skips without it.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::require;

/// One browser with one page attached.
pub struct Browser {
    child: Child,
    to_browser: File,
    from_browser: BufReader<File>,
    next_id: u64,
    session: String,
    _dir: tempfile::TempDir,
}

impl Browser {
    /// Start Chromium and open `url` in a page.
    pub fn open(url: &str) -> Browser {
        let bin = require("chromium", "chromium");
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("to-browser");
        let from = dir.path().join("from-browser");
        for fifo in [&to, &from] {
            let ok = Command::new("mkfifo").arg(fifo).status().unwrap();
            assert!(ok.success(), "mkfifo {}", fifo.display());
        }
        let profile = dir.path().join("profile");
        let script = format!(
            "exec timeout 120 '{}' --headless=new --no-sandbox --disable-gpu --no-first-run \
             --disable-extensions --disable-background-networking \
             --autoplay-policy=no-user-gesture-required --user-data-dir='{}' \
             --remote-debugging-pipe about:blank 3<'{}' 4>'{}'",
            bin.display(),
            profile.display(),
            to.display(),
            from.display()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The shell opens fd 3 first, then fd 4; each open waits for the other end.
        let to_browser = std::fs::OpenOptions::new().write(true).open(&to).unwrap();
        let from_browser = BufReader::new(File::open(&from).unwrap());
        let mut b = Browser {
            child,
            to_browser,
            from_browser,
            next_id: 0,
            session: String::new(),
            _dir: dir,
        };
        let target = b.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = b.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        let session = b.session.clone();
        b.call(Some(&session), "Page.enable", json!({}));
        b.call(Some(&session), "Page.navigate", json!({ "url": url }));
        b
    }

    /// Send one command and wait for its answer (events in between are skipped).
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to_browser.write_all(&bytes).unwrap();
        self.to_browser.flush().unwrap();
        loop {
            let mut buf = Vec::new();
            let n = self.from_browser.read_until(0, &mut buf).unwrap();
            assert!(n > 0, "the browser closed its pipe during {method}");
            buf.pop();
            let reply: Value = serde_json::from_slice(&buf).unwrap();
            if reply["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(e) = reply.get("error") {
                panic!("{method}: {e}");
            }
            return reply["result"].clone();
        }
    }

    /// Evaluate `expression` in the page (promises awaited); its JSON value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        let r = self.call(
            Some(&session),
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Evaluate `expression` until it is truthy (or `timeout`): its last value.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Value {
        let until = Instant::now() + timeout;
        loop {
            let v = self.eval(expression);
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < until,
                "waited {timeout:?} for {expression}; page:\n{}",
                self.eval("document.body ? document.body.innerText : ''")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The text of the element with `data-testid` `id` (`null` when absent).
    pub fn text(&mut self, id: &str) -> Option<String> {
        let v = self.eval(&format!(
            "(() => {{ const e = document.querySelector('[data-testid=\"{id}\"]'); return e ? e.textContent : null; }})()"
        ));
        v.as_str().map(str::to_string)
    }

    /// Click the element with `data-testid` `id` (it must exist).
    pub fn click(&mut self, id: &str) {
        let ok = self.eval(&format!(
            "(() => {{ const e = document.querySelector('[data-testid=\"{id}\"]'); if (!e) return false; e.click(); return true; }})()"
        ));
        assert_eq!(ok, json!(true), "no element {id} to click");
    }

    /// Type `text` into the input with `data-testid` `id` (as the user would: the
    /// `input` event fires).
    pub fn fill(&mut self, id: &str, text: &str) {
        let text = serde_json::to_string(text).unwrap();
        let ok = self.eval(&format!(
            "(() => {{ const e = document.querySelector('[data-testid=\"{id}\"]'); if (!e) return false; e.value = {text}; e.dispatchEvent(new Event('input')); return true; }})()"
        ));
        assert_eq!(ok, json!(true), "no input {id}");
    }
}

impl Drop for Browser {
    /// Ask the browser to close (killing the shell would leave Chromium running under
    /// `timeout`); kill it only if it does not.
    fn drop(&mut self) {
        let mut bytes =
            serde_json::to_vec(&json!({ "id": 0, "method": "Browser.close" })).unwrap_or_default();
        bytes.push(0);
        let _ = self.to_browser.write_all(&bytes);
        let _ = self.to_browser.flush();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
