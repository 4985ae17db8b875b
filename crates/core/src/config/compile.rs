//! Raw TOML → validated [`DialPlan`]. Every check that can be done once at load time is
//! done here, and every failure becomes a [`Diagnostic`](super::Diagnostic) with a line
//! number and a suggested fix. The compiler keeps going after an error so one `check`
//! run shows every mistake.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use jiff::civil::Date;

use super::diagnostic::{Sink, did_you_mean};
use super::plan::{
    Action, ActionSyntaxError, Department, DialPlan, HistoryPolicy, Manager, Menu, NumberPattern,
    NumberRoute, Schedule, Secret, Strategy, TimeRange, Voicemail,
};
use super::raw::{RawConfig, RawHours, RawManager, Text};

/// Where an action may appear: `repeat` and `back` only make sense as a menu option.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    MenuOption,
    Elsewhere,
}

struct Names {
    menus: BTreeSet<String>,
    departments: BTreeSet<String>,
    managers: BTreeSet<String>,
    voicemail: BTreeSet<String>,
    hours: BTreeSet<String>,
}

pub(crate) struct Compiler<'a> {
    pub(crate) sink: &'a mut Sink,
    names: Names,
    /// `None` skips the prompt-file check.
    available_prompts: Option<&'a BTreeSet<String>>,
    prompts_dir: String,
    used_prompts: BTreeSet<String>,
    /// Where each menu is defined, for graph diagnostics.
    pub(crate) menu_spans: BTreeMap<String, Range<usize>>,
    /// The config file's directory: relative paths in the plan (the priority file)
    /// are relative to it.
    pub(crate) base_dir: Option<std::path::PathBuf>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(
        sink: &'a mut Sink,
        raw: &RawConfig,
        available_prompts: Option<&'a BTreeSet<String>>,
        prompts_dir: String,
    ) -> Self {
        fn keys<T>(m: &BTreeMap<Text, T>) -> BTreeSet<String> {
            m.keys().map(|k| k.get_ref().clone()).collect()
        }
        let names = Names {
            menus: keys(&raw.menus),
            departments: keys(&raw.departments),
            managers: keys(&raw.managers),
            voicemail: keys(&raw.voicemail),
            hours: keys(&raw.hours),
        };
        Compiler {
            sink,
            names,
            available_prompts,
            prompts_dir,
            used_prompts: BTreeSet::new(),
            menu_spans: BTreeMap::new(),
            base_dir: None,
        }
    }

    pub(crate) fn compile(mut self, raw: RawConfig) -> (DialPlan, BTreeMap<String, Range<usize>>) {
        let mut plan = DialPlan::default();
        for (name, h) in &raw.hours {
            if let Some(s) = self.schedule(name.get_ref(), h.get_ref()) {
                plan.hours.insert(name.get_ref().clone(), s);
            }
        }
        for (name, v) in &raw.voicemail {
            let (name, v) = (name.get_ref().clone(), v.get_ref());
            let ctx = format!("voicemail \"{name}\"");
            let greeting = v
                .greeting
                .as_ref()
                .map(|g| self.prompt(g, &format!("{ctx} greeting")));
            let max_duration = Duration::from_secs(v.max_secs.unwrap_or(120));
            plan.voicemail.insert(
                name.clone(),
                Voicemail {
                    name,
                    greeting,
                    max_duration,
                },
            );
        }
        self.managers(&raw, &mut plan);
        self.departments(&raw, &mut plan);
        self.menus(&raw, &mut plan);
        self.numbers(&raw, &mut plan);
        let base = self.base_dir.clone();
        self.queueing(&raw, &mut plan, base.as_deref());
        if let Some(h) = &raw.history {
            let h = h.get_ref();
            let defaults = HistoryPolicy::default();
            plan.history = HistoryPolicy {
                enabled: h.enabled.unwrap_or(true),
                lookback: h
                    .lookback_days
                    .map(|d| Duration::from_secs(u64::from(d) * 86_400))
                    .unwrap_or(defaults.lookback),
                wait: h
                    .wait_secs
                    .map(Duration::from_secs)
                    .unwrap_or(defaults.wait),
                on_unavailable: h.on_unavailable.as_ref().and_then(|t| {
                    if t.get_ref().trim() == "fallback" {
                        None
                    } else {
                        self.action(t, "[history] on_unavailable", Place::Elsewhere)
                    }
                }),
            };
        }
        if let Some(t) = &raw.transfer {
            plan.transfer = self.transfer(t.get_ref());
        }
        if let Some(a) = &raw.alerts {
            plan.alerts = self.alerts(a.get_ref());
        }
        if let Some(l) = &raw.lookup {
            plan.integrations.lookup = self.lookup(l.get_ref());
        }
        if let Some(r) = &raw.recording {
            plan.integrations.recording = self.recording(r.get_ref());
        }
        if let Some(e) = &raw.email {
            plan.integrations.email = self.email(e.get_ref());
        }
        plan.prompts = self.used_prompts;
        (plan, self.menu_spans)
    }

    fn numbers(&mut self, raw: &RawConfig, plan: &mut DialPlan) {
        let mut seen: BTreeMap<NumberPattern, usize> = BTreeMap::new();
        for entry in &raw.numbers {
            let n = entry.get_ref();
            let text = n.number.get_ref();
            let line = self.sink.line_of(n.number.span().start);
            let pattern = NumberPattern::parse(text);
            let ctx = format!("number \"{text}\"");
            let bad_char = text.chars().any(|c| c.is_whitespace() && c != ' ')
                || text.trim().is_empty()
                || (text.contains('*') && !text.ends_with('*'));
            if bad_char {
                self.sink.error(
                    Some(n.number.span()),
                    format!(
                        "{ctx} is not a number pattern; write a number like \"+15551000\", a \
                         prefix like \"+1555*\", or \"*\" for every other number"
                    ),
                );
            }
            if let Some(first) = seen.get(&pattern) {
                self.sink.error(
                    Some(n.number.span()),
                    format!(
                        "{ctx} is listed twice (first on line {first}); remove one of the two \
                         [[numbers]] entries"
                    ),
                );
            } else {
                seen.insert(pattern.clone(), line);
            }
            let action = self
                .action(&n.action, &ctx, Place::Elsewhere)
                .unwrap_or(Action::Hangup);
            let hours = n.hours.as_ref().map(|h| self.hours_ref(h, &ctx));
            let after_hours = match &n.after_hours {
                Some(t) => self.action(t, &format!("{ctx} after_hours"), Place::Elsewhere),
                None => None,
            };
            if hours.is_some() && after_hours.is_none() {
                self.sink.error(
                    Some(entry.span()),
                    format!(
                        "{ctx} has hours but no after_hours action; add e.g. after_hours = \
                         \"play:closed -> hangup\""
                    ),
                );
            }
            plan.numbers.push(NumberRoute {
                source: n
                    .source
                    .as_ref()
                    .map(|s| s.get_ref().clone())
                    .unwrap_or_else(|| text.clone()),
                pattern,
                action,
                history: n.history,
                hours,
                after_hours: after_hours.unwrap_or(Action::Hangup),
                line,
                priority: n.priority.unwrap_or(0),
                record: n.record.unwrap_or(false),
            });
        }
        if !seen.contains_key(&NumberPattern::Any) {
            self.sink.warning(
                None,
                "no catch-all number: calls to numbers not listed will be rejected; add a \
                 [[numbers]] entry with number = \"*\"",
            );
        }
    }

    fn menus(&mut self, raw: &RawConfig, plan: &mut DialPlan) {
        for (name, m) in &raw.menus {
            let (name, span, m) = (name.get_ref().clone(), m.span(), m.get_ref());
            self.menu_spans.insert(name.clone(), span.clone());
            let ctx = format!("menu \"{name}\"");
            let prompt = self.prompt(&m.prompt, &ctx);
            let mut options = BTreeMap::new();
            for (key, action) in &m.options {
                let k = key.get_ref();
                let opt_ctx = format!("{ctx} option \"{k}\"");
                let mut chars = k.chars();
                let digit = match (chars.next(), chars.next()) {
                    (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => {
                        c
                    }
                    _ => {
                        self.sink.error(
                            Some(key.span()),
                            format!(
                                "{opt_ctx}: options are single phone keys: 0-9, * or #; use a \
                                 sub-menu for longer choices"
                            ),
                        );
                        continue;
                    }
                };
                if let Some(a) = self.action(action, &opt_ctx, Place::MenuOption) {
                    options.insert(digit, a);
                }
            }
            let invalid_prompt = m
                .invalid_prompt
                .as_ref()
                .map(|p| self.prompt(p, &format!("{ctx} invalid_prompt")));
            let timeout_prompt = m
                .timeout_prompt
                .as_ref()
                .map(|p| self.prompt(p, &format!("{ctx} timeout_prompt")));
            let on_failure = match &m.on_failure {
                Some(t) => self.action(t, &format!("{ctx} on_failure"), Place::Elsewhere),
                None => None,
            };
            let timeout = Duration::from_secs(m.timeout_secs.unwrap_or(5));
            if timeout.is_zero() {
                self.sink.error(
                    Some(span.clone()),
                    format!("{ctx}: timeout_secs must be at least 1"),
                );
            }
            plan.menus.insert(
                name.clone(),
                Menu {
                    name,
                    prompt,
                    options,
                    timeout,
                    retries: m.retries.unwrap_or(2),
                    invalid_prompt,
                    timeout_prompt,
                    on_failure: on_failure.unwrap_or(Action::Hangup),
                    type_ahead: m.type_ahead.unwrap_or(true),
                },
            );
        }
    }

    fn departments(&mut self, raw: &RawConfig, plan: &mut DialPlan) {
        for (name, d) in &raw.departments {
            let (name, span, d) = (name.get_ref().clone(), d.span(), d.get_ref());
            let ctx = format!("department \"{name}\"");
            let mut members: Vec<String> = Vec::new();
            for m in &d.members {
                let member = m.get_ref();
                if members.contains(member) {
                    self.sink.error(
                        Some(m.span()),
                        format!("{ctx} lists manager \"{member}\" twice; remove one"),
                    );
                } else if self.reference(m.span(), &format!("{ctx} member"), "manager", member) {
                    members.push(member.clone());
                }
            }
            if d.members.is_empty() {
                self.sink.warning(
                    Some(span.clone()),
                    format!(
                        "{ctx} has no members, so its calls always overflow; add members = \
                         [\"name\", ...]"
                    ),
                );
            }
            let strategy = match &d.strategy {
                None => Strategy::LongestIdle,
                Some(s) => Strategy::parse(s.get_ref()).unwrap_or_else(|| {
                    self.sink.error(
                        Some(s.span()),
                        format!(
                            "{ctx}: unknown strategy \"{}\"{}; choose one of: {}",
                            s.get_ref(),
                            did_you_mean(s.get_ref(), Strategy::NAMES),
                            Strategy::NAMES.join(", ")
                        ),
                    );
                    Strategy::LongestIdle
                }),
            };
            if strategy == Strategy::Skills && d.skills.is_empty() {
                self.sink.warning(
                    Some(span.clone()),
                    format!(
                        "{ctx} uses strategy \"skills\" but lists no skills, so it behaves like \
                         longest-idle; add skills = [\"...\"]"
                    ),
                );
            }
            let hold_prompt = d
                .hold_prompt
                .as_ref()
                .map(|p| self.prompt(p, &format!("{ctx} hold_prompt")));
            let overflow = match &d.overflow {
                Some(t) => self.action(t, &format!("{ctx} overflow"), Place::Elsewhere),
                None => None,
            }
            .unwrap_or(Action::Hangup);
            let hours = d.hours.as_ref().map(|h| self.hours_ref(h, &ctx));
            let after_hours = match &d.after_hours {
                Some(t) => self.action(t, &format!("{ctx} after_hours"), Place::Elsewhere),
                None => None,
            }
            .unwrap_or_else(|| overflow.clone());
            let queue = self.queue_settings(&ctx, d);
            plan.departments.insert(
                name.clone(),
                Department {
                    name,
                    members,
                    strategy,
                    skills: d.skills.clone(),
                    ring_timeout: Duration::from_secs(d.ring_timeout_secs.unwrap_or(20)),
                    queue_timeout: Duration::from_secs(d.queue_timeout_secs.unwrap_or(120)),
                    max_waiting: d.max_waiting.unwrap_or(10),
                    hold_prompt,
                    overflow,
                    hours,
                    after_hours,
                    wrap_up: Duration::from_secs(d.wrap_up_secs.unwrap_or(0)),
                    history: d.history,
                    queue,
                    record: d.record.unwrap_or(false),
                    email: self.recipients(&d.email, &ctx),
                },
            );
        }
    }

    fn managers(&mut self, raw: &RawConfig, plan: &mut DialPlan) {
        let mut extensions: BTreeMap<String, String> = BTreeMap::new();
        let mut logins: BTreeMap<String, String> = BTreeMap::new();
        for (name, m) in &raw.managers {
            let (name, m) = (name.get_ref().clone(), m.get_ref());
            let ctx = format!("manager \"{name}\"");
            if let Some(ext) = &m.extension {
                let e = ext.get_ref();
                if let Some(other) = extensions.get(e) {
                    self.sink.error(
                        Some(ext.span()),
                        format!(
                            "{ctx} has extension \"{e}\", which manager \"{other}\" already \
                             uses; give each manager their own extension"
                        ),
                    );
                } else {
                    extensions.insert(e.clone(), name.clone());
                }
            }
            if let Some(c) = &m.contact
                && (c.get_ref().starts_with("sip:") || c.get_ref().starts_with("sips:"))
                && crate::sip::uri::uri_destination(c.get_ref()).is_none()
            {
                self.sink.error(
                    Some(c.span()),
                    format!(
                        "{ctx}: contact \"{}\" must name the phone by IP address, e.g. \
                         \"sip:101@10.0.0.5:5060\" (host names are not looked up)",
                        c.get_ref()
                    ),
                );
            } else if let Some(c) = &m.contact
                && !(c.get_ref().starts_with("sip:") || c.get_ref().starts_with("sips:"))
            {
                self.sink.error(
                    Some(c.span()),
                    format!(
                        "{ctx}: contact \"{}\" is not a SIP address; write it like \
                             \"sip:101@10.0.0.5:5060\", or remove it if the phone registers",
                        c.get_ref()
                    ),
                );
            }
            let (username, password) = self.credentials(&ctx, &name, m, &mut logins);
            let max_calls = m.max_calls.unwrap_or(1);
            if max_calls == 0 {
                self.sink.warning(
                    None,
                    format!("{ctx} has max_calls = 0 and will never receive a call"),
                );
            }
            let hours = m.hours.as_ref().map(|h| self.hours_ref(h, &ctx));
            let unavailable = match &m.unavailable {
                Some(t) => self.action(t, &format!("{ctx} unavailable"), Place::Elsewhere),
                None => None,
            };
            plan.managers.insert(
                name.clone(),
                Manager {
                    display_name: m.name.clone().unwrap_or_else(|| name.clone()),
                    name,
                    extension: m.extension.as_ref().map(|e| e.get_ref().clone()),
                    contact: m.contact.as_ref().map(|c| c.get_ref().clone()),
                    skills: m.skills.clone(),
                    max_calls,
                    hours,
                    ring_timeout: Duration::from_secs(m.ring_timeout_secs.unwrap_or(20)),
                    unavailable: unavailable.unwrap_or(Action::Hangup),
                    username,
                    password,
                    srtp: m.srtp,
                },
            );
        }
    }

    /// A manager's phone login: `username` (default: the extension) and `password`.
    /// Logins must be unique, since the registrar finds the manager by login.
    fn credentials(
        &mut self,
        ctx: &str,
        name: &str,
        m: &RawManager,
        logins: &mut BTreeMap<String, String>,
    ) -> (Option<String>, Option<Secret>) {
        let username = m.username.as_ref().map(|u| u.get_ref().clone());
        if let Some(u) = &m.username
            && (u.get_ref().is_empty()
                || u.get_ref()
                    .contains(|c: char| c == '"' || c.is_whitespace()))
        {
            self.sink.error(
                Some(u.span()),
                format!(
                    "{ctx}: username \"{}\" must be non-empty, without spaces or quotes",
                    u.get_ref()
                ),
            );
        }
        let Some(pw) = &m.password else {
            if let Some(u) = &m.username {
                self.sink.warning(
                    Some(u.span()),
                    format!("{ctx} has a username but no password, so their phone cannot register"),
                );
            }
            return (username, None);
        };
        if pw.get_ref().is_empty() {
            self.sink.error(
                Some(pw.span()),
                format!(
                    "{ctx}: password is empty; set one, or remove it if the phone does not register"
                ),
            );
        }
        let login = username
            .clone()
            .or_else(|| m.extension.as_ref().map(|e| e.get_ref().clone()));
        match login {
            None => self.sink.error(
                Some(pw.span()),
                format!(
                    "{ctx} has a password but no extension or username to log in with; \
                     add extension = \"101\" (or username = \"...\")"
                ),
            ),
            Some(login) => {
                if let Some(other) = logins.get(&login) {
                    self.sink.error(
                        Some(pw.span()),
                        format!(
                            "{ctx} logs in as \"{login}\", like manager \"{other}\"; \
                             give each manager their own username"
                        ),
                    );
                } else {
                    logins.insert(login, name.to_string());
                }
            }
        }
        (username, Some(Secret::new(pw.get_ref().clone())))
    }

    fn schedule(&mut self, name: &str, h: &RawHours) -> Option<Schedule> {
        let ctx = format!("hours \"{name}\"");
        let tz_name = h.timezone.get_ref();
        let timezone = match jiff::tz::db().get(tz_name) {
            Ok(tz) => Some(tz),
            Err(_) => {
                let all: Vec<String> = jiff::tz::db()
                    .available()
                    .map(|n| n.as_str().to_string())
                    .collect();
                self.sink.error(
                    Some(h.timezone.span()),
                    format!(
                        "{ctx}: unknown time zone \"{tz_name}\"{}; use a name from the IANA \
                         time zone database such as \"Europe/Berlin\" or \"America/New_York\"",
                        did_you_mean(tz_name, all.iter().map(String::as_str))
                    ),
                );
                None
            }
        };
        let mut weekly: [Vec<TimeRange>; 7] = Default::default();
        for ((day, ranges), slot) in h.days().into_iter().zip(weekly.iter_mut()) {
            if let Some(ranges) = ranges {
                *slot = self.ranges(ranges, &format!("{ctx} {day}"));
            }
        }
        let mut holidays = BTreeSet::new();
        for d in &h.holidays {
            if let Some(date) = self.date(d, &format!("{ctx} holidays")) {
                holidays.insert(date);
            }
        }
        let mut special = BTreeMap::new();
        for (d, ranges) in &h.special {
            if let Some(date) = self.date(d, &format!("{ctx} special")) {
                special.insert(
                    date,
                    self.ranges(ranges, &format!("{ctx} special \"{}\"", d.get_ref())),
                );
            }
        }
        Some(Schedule {
            name: name.to_string(),
            timezone: timezone?,
            weekly,
            holidays,
            special,
        })
    }

    fn date(&mut self, text: &Text, ctx: &str) -> Option<Date> {
        let t = text.get_ref();
        match t.parse::<Date>() {
            Ok(d) if t.len() == 10 => Some(d),
            _ => {
                self.sink.error(
                    Some(text.span()),
                    format!("{ctx}: \"{t}\" is not a date; write dates as \"YYYY-MM-DD\", e.g. \"2026-12-25\""),
                );
                None
            }
        }
    }

    /// Parses `"09:00-13:00"` ranges and rejects backwards and overlapping ones.
    fn ranges(&mut self, texts: &[Text], ctx: &str) -> Vec<TimeRange> {
        let mut out: Vec<(TimeRange, Range<usize>)> = Vec::new();
        for t in texts {
            match parse_range(t.get_ref()) {
                Ok(r) if r.end <= r.start => self.sink.error(
                    Some(t.span()),
                    format!(
                        "{ctx}: range \"{}\" ends before it starts; opening past midnight must \
                         be split, e.g. \"22:00-24:00\" on one day and \"00:00-02:00\" on the next",
                        t.get_ref()
                    ),
                ),
                Ok(r) => out.push((r, t.span())),
                Err(()) => self.sink.error(
                    Some(t.span()),
                    format!(
                        "{ctx}: \"{}\" is not a time range; write it as \"HH:MM-HH:MM\", e.g. \
                         \"09:00-17:30\"",
                        t.get_ref()
                    ),
                ),
            }
        }
        out.sort_by_key(|(r, _)| *r);
        for pair in out.windows(2) {
            if let [(a, _), (b, span)] = pair
                && b.start < a.end
            {
                let merged = TimeRange {
                    start: a.start,
                    end: a.end.max(b.end),
                };
                self.sink.error(
                    Some(span.clone()),
                    format!(
                        "{ctx}: ranges \"{a}\" and \"{b}\" overlap; merge them into \"{merged}\""
                    ),
                );
            }
        }
        out.into_iter().map(|(r, _)| r).collect()
    }

    fn hours_ref(&mut self, name: &Text, ctx: &str) -> String {
        self.reference(
            name.span(),
            &format!("{ctx} hours"),
            "hours",
            name.get_ref(),
        );
        name.get_ref().clone()
    }

    pub(crate) fn prompt(&mut self, name: &Text, ctx: &str) -> String {
        let n = name.get_ref();
        self.used_prompts.insert(n.clone());
        if let Some(available) = self.available_prompts
            && !available.contains(n)
        {
            let dym = did_you_mean(n, available.iter().map(String::as_str));
            let fix = if dym.is_empty() {
                "; add the WAV file or fix the name"
            } else {
                ""
            };
            self.sink.error(
                Some(name.span()),
                format!(
                    "{ctx} uses prompt \"{n}\", but there is no file {}/{n}.wav{dym}{fix}",
                    self.prompts_dir
                ),
            );
        }
        n.clone()
    }

    /// Parses an action and checks everything it names exists.
    pub(crate) fn action(&mut self, text: &Text, ctx: &str, place: Place) -> Option<Action> {
        let action = match text.get_ref().parse::<Action>() {
            Ok(a) => a,
            Err(e) => {
                let hint = match &e {
                    ActionSyntaxError::UnknownKind {
                        suggestion: Some(s),
                        ..
                    } => {
                        format!(" (did you mean \"{s}\"?)")
                    }
                    ActionSyntaxError::UnknownKind { .. } => "; actions look like menu:NAME, \
                        department:NAME, manager:NAME, voicemail:NAME, play:PROMPT -> ACTION \
                        or hangup"
                        .to_string(),
                    _ => String::new(),
                };
                self.sink
                    .error(Some(text.span()), format!("{ctx}: {e}{hint}"));
                return None;
            }
        };
        self.check_action(&action, text, ctx, place);
        Some(action)
    }

    fn check_action(&mut self, action: &Action, text: &Text, ctx: &str, place: Place) {
        let span = text.span();
        match action {
            Action::Menu(n) => _ = self.reference(span, ctx, "menu", n),
            Action::Department(n) => _ = self.reference(span, ctx, "department", n),
            Action::Manager(n) => _ = self.reference(span, ctx, "manager", n),
            Action::Voicemail(n) => _ = self.reference(span, ctx, "voicemail", n),
            Action::Play { prompt, then } => {
                let p = toml::Spanned::new(span.clone(), prompt.clone());
                self.prompt(&p, ctx);
                self.check_action(then, text, ctx, place);
            }
            Action::Hangup => {}
            Action::Repeat | Action::Back if place == Place::MenuOption => {}
            Action::Repeat | Action::Back => self.sink.error(
                Some(span),
                format!("{ctx}: \"{action}\" only works as a menu option; use an action such as hangup here"),
            ),
        }
    }

    /// Reports a reference to something that is not defined; true when it exists.
    fn reference(&mut self, span: Range<usize>, ctx: &str, kind: &str, name: &str) -> bool {
        let (set, section) = match kind {
            "menu" => (&self.names.menus, "menus"),
            "department" => (&self.names.departments, "departments"),
            "manager" => (&self.names.managers, "managers"),
            "voicemail" => (&self.names.voicemail, "voicemail"),
            _ => (&self.names.hours, "hours"),
        };
        if set.contains(name) {
            return true;
        }
        let dym = did_you_mean(name, set.iter().map(String::as_str));
        let fix = if !dym.is_empty() {
            dym
        } else if set.is_empty() {
            format!("; add a [{section}.{name}] section")
        } else {
            let list: Vec<&str> = set.iter().map(String::as_str).collect();
            format!(
                "; add a [{section}.{name}] section or use one of: {}",
                list.join(", ")
            )
        };
        let msg = format!("{ctx} points to {kind} \"{name}\", which does not exist{fix}");
        self.sink.error(Some(span), msg);
        false
    }
}

/// `"HH:MM-HH:MM"` → seconds since midnight; `24:00` is allowed as an end.
fn parse_range(s: &str) -> Result<TimeRange, ()> {
    let (a, b) = s.split_once('-').ok_or(())?;
    let time = |t: &str| -> Result<u32, ()> {
        let (h, m) = t.trim().split_once(':').ok_or(())?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(());
        }
        let (h, m): (u32, u32) = (h.parse().map_err(|_| ())?, m.parse().map_err(|_| ())?);
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(());
        }
        Ok(h * 3600 + m * 60)
    };
    let (start, end) = (time(a)?, time(b)?);
    if start == 86_400 {
        return Err(());
    }
    Ok(TimeRange { start, end })
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse() {
        assert_eq!(
            parse_range("09:00-17:30").map(|r| (r.start, r.end)),
            Ok((32_400, 63_000))
        );
        assert_eq!(parse_range("9:00-24:00").map(|r| r.end), Ok(86_400));
        assert!(parse_range("9-17").is_err());
        assert!(parse_range("25:00-26:00").is_err());
        assert!(parse_range("24:00-24:00").is_err());
        assert!(parse_range("09:60-10:00").is_err());
    }
}
