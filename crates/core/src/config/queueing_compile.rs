//! Compiling the contact-center tables: `[outbound.NAME]`, `[callbacks]`,
//! `[priority]` (with its number file), `[features]`, and the queue keys of each
//! department (`announce_secs`, `callback_key`, …). Types in [`super::queueing`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::compile::Compiler;
use super::plan::{DialPlan, NumberPattern, Secret};
use super::queueing::{
    CallbackPolicy, FeatureCodes, OutboundTransport, OutboundTrunk, PriorityPolicy,
    QueueAnnouncements, Rewrite, all_number_prompts, prompts,
};
use super::raw::{RawCallbacks, RawConfig, RawDepartment, RawFeatures, RawPriority, Text};

/// Phone keys: what a code or key may consist of.
fn phone_keys(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
}

fn one_key(s: &str) -> Option<char> {
    let mut c = s.trim().chars();
    match (c.next(), c.next()) {
        (Some(k), None) if k.is_ascii_digit() || k == '*' || k == '#' => Some(k),
        _ => None,
    }
}

impl Compiler<'_> {
    /// The queue keys of one department.
    pub(crate) fn queue_settings(&mut self, ctx: &str, d: &RawDepartment) -> QueueAnnouncements {
        let mut q = QueueAnnouncements::default();
        if let Some(secs) = &d.announce_secs {
            match *secs.get_ref() {
                0 => {}
                s if s < 10 => self.sink.error(
                    Some(secs.span()),
                    format!(
                        "{ctx}: announce_secs = {s} would talk over the hold music all the \
                         time; use 10 or more (or 0 to turn announcements off)"
                    ),
                ),
                s => q.every = Some(Duration::from_secs(s)),
            }
        }
        q.wait = d.announce_wait.unwrap_or(true);
        q.max_minutes = d.announce_max_minutes.unwrap_or(30).clamp(1, 99);
        if let Some(k) = &d.callback_key {
            match one_key(k.get_ref()) {
                Some(key) => q.callback_key = Some(key),
                None => self.sink.error(
                    Some(k.span()),
                    format!(
                        "{ctx}: callback_key \"{}\" must be one phone key such as \"5\"",
                        k.get_ref()
                    ),
                ),
            }
        }
        if let Some(s) = d.service_level_secs {
            q.service_level = Duration::from_secs(s);
        }
        q.name_prompt = d
            .name_prompt
            .as_ref()
            .map(|p| self.prompt(p, &format!("{ctx} name_prompt")));
        if q.every.is_some() {
            for p in prompts::ANNOUNCE
                .iter()
                .map(|p| p.to_string())
                .chain(all_number_prompts())
            {
                self.system_prompt(&p, ctx);
            }
        }
        if q.callback_key.is_some() {
            for p in prompts::CALLBACK
                .iter()
                .map(|p| p.to_string())
                .chain((0..10).map(|d| format!("digit_{d}")))
            {
                self.system_prompt(&p, ctx);
            }
        }
        q
    }

    /// A prompt the call layer plays on its own (announcements, the callback dialog):
    /// checked like the plan's own so `switchboard check` finds a missing file.
    fn system_prompt(&mut self, name: &str, ctx: &str) {
        let t = toml::Spanned::new(0..0, name.to_string());
        self.prompt(&t, &format!("{ctx} (announcements and callbacks)"));
    }

    /// `[outbound.NAME]`, `[callbacks]`, `[priority]`, `[features]`; after the
    /// departments (callback keys need a trunk).
    pub(crate) fn queueing(&mut self, raw: &RawConfig, plan: &mut DialPlan, base: Option<&Path>) {
        for (name, t) in &raw.outbound {
            if let Some(trunk) = self.outbound(name.get_ref(), t.get_ref()) {
                plan.outbound.insert(name.get_ref().clone(), trunk);
            }
        }
        if let Some(c) = &raw.callbacks {
            plan.callbacks = self.callbacks(c.get_ref(), plan);
        }
        let offering: Vec<String> = plan
            .departments
            .values()
            .filter(|d| d.queue.callback_key.is_some())
            .map(|d| d.name.clone())
            .collect();
        if !offering.is_empty() && plan.callback_trunk().is_none() {
            self.sink.error(
                raw.callbacks.as_ref().map(|c| c.span()),
                format!(
                    "department(s) {} offer a callback (callback_key) but no outbound trunk \
                     is set for dialling back; add [outbound.NAME] and [callbacks] trunk = \"NAME\"",
                    offering.join(", ")
                ),
            );
        }
        if let Some(p) = &raw.priority {
            plan.priority = self.priority(p.get_ref(), base);
        }
        if let Some(f) = &raw.features {
            plan.features = self.features(f.get_ref(), plan);
        }
        let codes: Vec<String> = plan
            .features
            .all()
            .iter()
            .map(|(_, c)| c.to_string())
            .collect();
        for code in codes {
            if plan
                .numbers
                .iter()
                .any(|n| n.pattern == NumberPattern::Exact(code.clone()))
            {
                self.sink.warning(
                    None,
                    format!(
                        "[[numbers]] \"{code}\" is also a manager feature code ([features]); \
                         a manager's phone dialling it changes their state, a trunk call is routed"
                    ),
                );
            }
        }
    }

    fn outbound(&mut self, name: &str, t: &super::raw::RawOutbound) -> Option<OutboundTrunk> {
        let ctx = format!("outbound trunk \"{name}\"");
        let text = t.address.get_ref().trim();
        let bare = text
            .strip_prefix("sip:")
            .unwrap_or(text)
            .split(';')
            .next()
            .unwrap_or_default();
        let address = bare
            .parse::<std::net::SocketAddr>()
            .or_else(|_| bare.parse::<std::net::IpAddr>().map(|ip| (ip, 5060).into()));
        let address = match address {
            Ok(a) => a,
            Err(_) => {
                self.sink.error(
                    Some(t.address.span()),
                    format!(
                        "{ctx}: address \"{text}\" must be an IP address with an optional port, \
                         e.g. \"192.0.2.10:5060\" (host names are not looked up)"
                    ),
                );
                return None;
            }
        };
        let transport = match t.transport.as_ref().map(|t| t.get_ref().as_str()) {
            None | Some("udp") => OutboundTransport::Udp,
            Some("tcp") => OutboundTransport::Tcp,
            Some(other) => {
                self.sink.error(
                    t.transport.as_ref().map(|t| t.span()),
                    format!("{ctx}: transport \"{other}\" must be \"udp\" or \"tcp\""),
                );
                OutboundTransport::Udp
            }
        };
        let caller_id = super::plan::normalize_number(t.caller_id.get_ref());
        let number_like = |s: &str| {
            let d = s.strip_prefix('+').unwrap_or(s);
            !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
        };
        if !number_like(&caller_id) {
            self.sink.error(
                Some(t.caller_id.span()),
                format!(
                    "{ctx}: caller_id \"{}\" must be a phone number such as \"+4930123456\"",
                    t.caller_id.get_ref()
                ),
            );
        }
        let mut prefixes = |list: &[Text], key: &str| -> Vec<String> {
            let mut out = Vec::new();
            for p in list {
                let n = super::plan::normalize_number(p.get_ref());
                if number_like(&n) || n == "+" {
                    out.push(n);
                } else {
                    self.sink.error(
                        Some(p.span()),
                        format!(
                            "{ctx}: {key} \"{}\" must be a number prefix such as \"+49\"",
                            p.get_ref()
                        ),
                    );
                }
            }
            out
        };
        let allowed_prefixes = prefixes(&t.allowed_prefixes, "allowed_prefixes");
        let denied_prefixes = prefixes(&t.denied_prefixes, "denied_prefixes");
        if allowed_prefixes.is_empty() {
            self.sink.warning(
                Some(t.address.span()),
                format!(
                    "{ctx} has no allowed_prefixes, so callers' numbers anywhere in the world \
                     may be dialled back; list the countries you serve, e.g. [\"+49\"]"
                ),
            );
        }
        let rewrite = t
            .rewrite
            .iter()
            .map(|r| Rewrite {
                from: r.get_ref().from.clone(),
                to: r.get_ref().to.clone(),
            })
            .collect();
        let username = t.username.as_ref().map(|u| u.get_ref().clone());
        let password = t
            .password
            .as_ref()
            .map(|p| Secret::new(p.get_ref().clone()));
        if username.is_some() != password.is_some() {
            self.sink.error(
                Some(t.address.span()),
                format!("{ctx}: set both username and password (digest credentials), or neither"),
            );
        }
        Some(OutboundTrunk {
            name: name.to_string(),
            address,
            transport,
            username,
            password,
            caller_id,
            caller_name: t.caller_name.clone(),
            rewrite,
            allowed_prefixes,
            denied_prefixes,
            ring_timeout: Duration::from_secs(t.ring_timeout_secs.unwrap_or(30).max(5)),
        })
    }

    fn callbacks(&mut self, c: &RawCallbacks, plan: &DialPlan) -> CallbackPolicy {
        let mut p = CallbackPolicy::default();
        if let Some(t) = &c.trunk {
            if plan.outbound.contains_key(t.get_ref()) {
                p.trunk = Some(t.get_ref().clone());
            } else {
                let known: Vec<&str> = plan.outbound.keys().map(String::as_str).collect();
                self.sink.error(
                    Some(t.span()),
                    format!(
                        "[callbacks] trunk \"{}\" is not an [outbound.NAME] trunk{}",
                        t.get_ref(),
                        super::diagnostic::did_you_mean(t.get_ref(), known.iter().copied())
                    ),
                );
            }
        }
        if let Some(a) = &c.attempts {
            if (1..=20).contains(a.get_ref()) {
                p.attempts = *a.get_ref();
            } else {
                self.sink.error(
                    Some(a.span()),
                    "[callbacks] attempts must be 1 to 20 dial-outs",
                );
            }
        }
        if let Some(r) = &c.retry_secs {
            if *r.get_ref() >= 1 {
                p.retry = Duration::from_secs(*r.get_ref());
            } else {
                self.sink
                    .error(Some(r.span()), "[callbacks] retry_secs must be at least 1");
            }
        }
        p.keyed_numbers = c.keyed_numbers.unwrap_or(true);
        p.whisper = c.whisper.unwrap_or(true);
        if let Some(cc) = &c.country_code {
            let v = cc.get_ref().trim().trim_start_matches('+');
            if !v.is_empty() && v.len() <= 3 && v.chars().all(|c| c.is_ascii_digit()) {
                p.country_code = Some(v.to_string());
            } else {
                self.sink.error(
                    Some(cc.span()),
                    "[callbacks] country_code must be 1 to 3 digits, e.g. \"49\"",
                );
            }
        }
        p
    }

    fn priority(&mut self, p: &RawPriority, base: Option<&Path>) -> PriorityPolicy {
        let mut out = PriorityPolicy::default();
        if let Some(file) = &p.file {
            let path = match base {
                Some(dir) => dir.join(file.get_ref()),
                None => Path::new(file.get_ref()).to_path_buf(),
            };
            let level = p.file_priority.unwrap_or(10);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    for (i, line) in text.lines().enumerate() {
                        let line = line.split('#').next().unwrap_or_default().trim();
                        if line.is_empty() {
                            continue;
                        }
                        let mut parts = line.split_whitespace();
                        let number = parts.next().unwrap_or_default();
                        let prio = match parts.next().map(str::parse::<u8>) {
                            None => Some(level),
                            Some(Ok(v)) => Some(v),
                            Some(Err(_)) => None,
                        };
                        match prio {
                            Some(v) => {
                                out.callers.insert(NumberPattern::parse(number), v);
                            }
                            None => self.sink.error(
                                Some(file.span()),
                                format!(
                                    "[priority] file {} line {}: \"{line}\" is not \"NUMBER\" or \
                                     \"NUMBER PRIORITY\" (0-255)",
                                    path.display(),
                                    i + 1
                                ),
                            ),
                        }
                    }
                }
                Err(e) => self.sink.error(
                    Some(file.span()),
                    format!(
                        "[priority] file {}: {e}; the path is relative to the config file",
                        path.display()
                    ),
                ),
            }
        }
        // The plan's own entries win over the file's.
        for (number, prio) in &p.callers {
            out.callers
                .insert(NumberPattern::parse(number.get_ref()), *prio.get_ref());
        }
        out
    }

    fn features(&mut self, f: &RawFeatures, plan: &DialPlan) -> FeatureCodes {
        let mut out = FeatureCodes::default();
        let mut code = |t: &Option<Text>, slot: &mut String, key: &str| {
            if let Some(t) = t {
                let v = t.get_ref().trim();
                if phone_keys(v) {
                    *slot = v.to_string();
                } else {
                    self.sink.error(
                        Some(t.span()),
                        format!("[features] {key} \"{v}\" must be phone keys (0-9, * and #), e.g. \"*45\""),
                    );
                }
            }
        };
        code(&f.pause, &mut out.pause, "pause");
        code(&f.unpause, &mut out.unpause, "unpause");
        code(&f.sign_in, &mut out.sign_in, "sign_in");
        code(&f.sign_out, &mut out.sign_out, "sign_out");
        code(&f.dnd_on, &mut out.dnd_on, "dnd_on");
        code(&f.dnd_off, &mut out.dnd_off, "dnd_off");
        if let Some(r) = &f.default_reason {
            out.default_reason = r.get_ref().trim().to_string();
        }
        for (k, reason) in &f.pause_reasons {
            match one_key(k.get_ref()) {
                Some(key) => {
                    out.pause_reasons
                        .insert(key, reason.get_ref().trim().to_string());
                }
                None => self.sink.error(
                    Some(k.span()),
                    format!(
                        "[features] pause_reasons key \"{}\" must be one phone key",
                        k.get_ref()
                    ),
                ),
            }
        }
        for (k, d) in &f.departments {
            let Some(key) = one_key(k.get_ref()) else {
                self.sink.error(
                    Some(k.span()),
                    format!(
                        "[features] departments key \"{}\" must be one phone key",
                        k.get_ref()
                    ),
                );
                continue;
            };
            if plan.departments.contains_key(d.get_ref()) {
                out.departments.insert(key, d.get_ref().clone());
            } else {
                let known: Vec<&str> = plan.departments.keys().map(String::as_str).collect();
                self.sink.error(
                    Some(d.span()),
                    format!(
                        "[features] departments key \"{}\" points to department \"{}\", which \
                         does not exist{}",
                        k.get_ref(),
                        d.get_ref(),
                        super::diagnostic::did_you_mean(d.get_ref(), known.iter().copied())
                    ),
                );
            }
        }
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (name, c) in out.all() {
            if let Some(other) = seen.insert(c.to_string(), name) {
                self.sink.error(
                    None,
                    format!(
                        "[features] {name} and {other} are both \"{c}\"; give each its own code"
                    ),
                );
            }
        }
        // A code must not be another's prefix plus a key (`*4` + `5` = `*45`).
        let codes: BTreeSet<&str> = out.all().iter().map(|(_, c)| *c).collect();
        for a in &codes {
            for b in &codes {
                if a != b && b.starts_with(a) && b.len() == a.len() + 1 {
                    self.sink.warning(
                        None,
                        format!("[features] \"{b}\" reads as \"{a}\" followed by a key; the exact code wins"),
                    );
                }
            }
        }
        for p in [
            prompts::AGENT_PAUSED,
            prompts::AGENT_UNPAUSED,
            prompts::AGENT_SIGNED_IN,
            prompts::AGENT_SIGNED_OUT,
            prompts::AGENT_DND_ON,
            prompts::AGENT_DND_OFF,
        ] {
            self.system_prompt(p, "[features]");
        }
        out
    }
}
