//! What a call owes its caller when nobody could take it: one callback request, in
//! the department queue the caller was headed for, with the menus they went through
//! and, when they left one, their message.

use std::path::Path;
use std::time::Duration;

use super::program::CallInfo;
use crate::model::{CallbackReason, MenuStep, NewCallback};

/// Messages shorter than this are kept but flagged `short`.
const SHORT_MESSAGE: Duration = Duration::from_secs(2);

/// A call's callback bookkeeping: where its request goes and whether it is filed.
#[derive(Debug, Default)]
pub struct Callbacks {
    /// The department the caller was last being connected to (their callback queue).
    department: Option<String>,
    /// Menus and keys, in order.
    menu_path: Vec<MenuStep>,
    /// Filed already (once per call).
    filed: bool,
}

impl Callbacks {
    pub fn set_department(&mut self, department: String) {
        self.department = Some(department);
    }

    pub fn push_menu_step(&mut self, step: MenuStep) {
        self.menu_path.push(step);
    }

    pub fn is_filed(&self) -> bool {
        self.filed
    }

    /// Mark the request filed; false when it already was.
    pub fn mark_filed(&mut self) -> bool {
        !std::mem::replace(&mut self.filed, true)
    }

    /// The request for `info`'s caller: the queue they were headed for, else the
    /// mailbox, else "general".
    pub fn request(
        &self,
        info: &CallInfo,
        source: String,
        reason: CallbackReason,
        mailbox: &str,
    ) -> NewCallback {
        let department = [
            self.department.as_deref().unwrap_or_default(),
            mailbox,
            "general",
        ]
        .into_iter()
        .find(|d| !d.is_empty())
        .unwrap_or("general")
        .to_string();
        NewCallback {
            department,
            caller: info.caller.clone(),
            dialled: info.dialled.clone(),
            source,
            at: info.started_at,
            menu_path: self.menu_path.clone(),
            reason,
            recording_path: None,
            recording_secs: None,
            recording_flag: None,
        }
    }
}

/// The message's file, length and flag (`silent`, `short`, or the write error).
pub fn set_recording(
    request: &mut NewCallback,
    path: &Path,
    duration: Duration,
    silent: bool,
    error: Option<String>,
) {
    request.recording_path = Some(path.display().to_string());
    request.recording_secs = Some(duration.as_secs_f64());
    request.recording_flag = match (error, silent) {
        (Some(e), _) => {
            request.recording_path = None;
            Some(format!("error: {e}"))
        }
        (None, true) => Some("silent".into()),
        (None, false) if duration < SHORT_MESSAGE => Some("short".into()),
        _ => None,
    };
}
