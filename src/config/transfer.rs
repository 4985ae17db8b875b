//! Compiling the `[transfer]` table: the feature code managers press to transfer a
//! call, and the targets of its keys.

use super::compile::{Compiler, Place};
use super::plan::{Action, TransferPolicy};
use super::raw::RawTransfer;

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
