//! Compiling the `[transfer]` table (the feature code managers press to transfer a
//! call, and the targets of its keys) and the `[alerts]` table.

use super::compile::{Compiler, Place};
use super::plan::{Action, AlertPolicy, TransferPolicy};
use super::raw::{RawAlerts, RawTransfer};

impl Compiler<'_> {
    pub(crate) fn transfer(&mut self, raw: &RawTransfer) -> TransferPolicy {
        let mut policy = TransferPolicy::default();
        if let Some(code) = &raw.code {
            let c = code.get_ref().trim();
            if c.is_empty()
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || ch == '*' || ch == '#')
            {
                self.sink.error(
                    Some(code.span()),
                    format!(
                        "[transfer] code \"{c}\" must be phone keys (0-9, * and #), e.g. \"*2\""
                    ),
                );
            } else {
                policy.code = c.to_string();
            }
        }
        if let Some(spanned) = &raw.digit_timeout_ms {
            let ms = *spanned.get_ref();
            if TransferPolicy::DIGIT_TIMEOUT_RANGE.contains(&ms) {
                policy.digit_timeout = std::time::Duration::from_millis(ms);
            } else {
                self.sink.error(
                    Some(spanned.span()),
                    format!(
                        "[transfer] digit_timeout_ms = {ms}: use {} to {} (milliseconds \
                         between the keys of a feature code)",
                        TransferPolicy::DIGIT_TIMEOUT_RANGE.start(),
                        TransferPolicy::DIGIT_TIMEOUT_RANGE.end()
                    ),
                );
            }
        }
        for (key, target) in &raw.keys {
            let k = key.get_ref().trim();
            let mut chars = k.chars();
            let (Some(ch), None) = (chars.next(), chars.next()) else {
                self.sink.error(
                    Some(key.span()),
                    format!("[transfer] key \"{k}\" must be a single phone key such as \"1\""),
                );
                continue;
            };
            let ctx = format!("[transfer] key \"{k}\"");
            match self.action(target, &ctx, Place::Elsewhere) {
                Some(a @ (Action::Department(_) | Action::Manager(_))) => {
                    policy.keys.insert(ch, a);
                }
                Some(other) => self.sink.error(
                    Some(target.span()),
                    format!(
                        "{ctx}: a call can be transferred to department:NAME or manager:NAME, \
                         not \"{other}\""
                    ),
                ),
                None => {}
            }
        }
        policy
    }
}

impl Compiler<'_> {
    pub(crate) fn alerts(&mut self, raw: &RawAlerts) -> AlertPolicy {
        let mut policy = AlertPolicy {
            callback_within: raw
                .callback_within_hours
                .map(|h| std::time::Duration::from_secs(h.saturating_mul(3600))),
            manager_missed_per_day: raw.manager_missed_per_day,
            webhook: raw.webhook.unwrap_or(true),
            check_every: std::time::Duration::from_secs(raw.check_secs.unwrap_or(60).max(1)),
            ..AlertPolicy::default()
        };
        if raw.callback_within_hours == Some(0) || raw.manager_missed_per_day == Some(0) {
            self.sink.warning(
                None,
                "[alerts]: a threshold of 0 raises the alert for every call; leave the key out \
                 to turn that alert off",
            );
        }
        if let Some(tz) = &raw.timezone {
            match jiff::tz::TimeZone::get(tz.get_ref()) {
                Ok(z) => policy.timezone = z,
                Err(_) => self.sink.error(
                    Some(tz.span()),
                    format!(
                        "[alerts] timezone \"{}\" is not a known time zone; use a name like \
                         \"Europe/Berlin\"",
                        tz.get_ref()
                    ),
                ),
            }
        }
        policy
    }
}
