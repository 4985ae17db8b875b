//! `switchboard report` and `switchboard callbacks`.

use crate::config::DialPlan;
use crate::reports;
use crate::store::{CallbackStatus, Store, StoreError};

/// What `callbacks` does.
#[derive(Debug, Clone)]
pub enum CallbacksAction {
    List {
        department: Option<String>,
        status: Option<CallbackStatus>,
        format: reports::Format,
        tz: Option<String>,
    },
    Claim {
        id: i64,
        manager: String,
    },
    Done {
        id: i64,
        manager: String,
        outcome: String,
    },
}

/// `switchboard report`: the text to print.
pub fn report(
    plan: &DialPlan,
    store: &dyn Store,
    from: Option<&str>,
    to: Option<&str>,
    tz: Option<&str>,
    format: reports::Format,
) -> Result<String, String> {
    let tz = reports::time_zone(tz).map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now();
    let period = reports::Period::from_args(from, to, now, tz).map_err(|e| e.to_string())?;
    let opts = reports::queueing::ReportOptions::from_plan(plan);
    let r = reports::generate_with(store, &period, now, &opts).map_err(|e| e.to_string())?;
    Ok(reports::render_report(&r, format))
}

/// `switchboard callbacks …`: the text to print. Names a person types (manager,
/// department) are checked against the plan first, with a suggestion for a typo.
pub fn callbacks(
    plan: &DialPlan,
    store: &mut dyn Store,
    action: CallbacksAction,
) -> Result<String, String> {
    let now = jiff::Timestamp::now();
    match action {
        CallbacksAction::List {
            department,
            status,
            format,
            tz,
        } => {
            let tz = reports::time_zone(tz.as_deref()).map_err(|e| e.to_string())?;
            if let Some(d) = &department {
                plan.known_department(d).map_err(|e| e.to_string())?;
            }
            let list = store
                .list_callbacks(department.as_deref(), status)
                .map_err(|e| e.to_string())?;
            match format {
                reports::Format::Json => serde_json::to_string_pretty(&list)
                    .map(|j| j + "\n")
                    .map_err(|e| e.to_string()),
                reports::Format::Table => Ok(reports::callbacks_table(&list, &tz)),
                reports::Format::Csv => Err("callbacks list prints table or json".to_owned()),
            }
        }
        CallbacksAction::Claim { id, manager } => {
            plan.known_manager(&manager).map_err(|e| e.to_string())?;
            store
                .claim_callback(id, &manager, now)
                .map(|cb| {
                    format!(
                        "callback #{} claimed by {manager}: call {} ({}, {})\n",
                        cb.id, cb.caller, cb.department, cb.source
                    )
                })
                .map_err(|e| callback_error(id, e))
        }
        CallbacksAction::Done {
            id,
            manager,
            outcome,
        } => {
            plan.known_manager(&manager).map_err(|e| e.to_string())?;
            store
                .complete_callback(id, &manager, &outcome, now)
                .map(|cb| format!("callback #{} closed by {manager}: {outcome}\n", cb.id))
                .map_err(|e| callback_error(id, e))
        }
    }
}

fn callback_error(id: i64, e: StoreError) -> String {
    match e {
        StoreError::CallbackNotFound { .. } => {
            format!("no such request: {id} (run `switchboard callbacks list` to see the queue)")
        }
        StoreError::AlreadyClaimed { by, .. } => {
            format!("callback #{id} is already claimed by {by}")
        }
        StoreError::AlreadyDone { by, .. } => {
            format!("callback #{id} is already done (closed by {by})")
        }
        other => other.to_string(),
    }
}
