//! What a CRM answer (`[lookup]`) changes in a new call's routing, decided once at the
//! entry like returning-caller routing and just before it:
//!
//! 1. `department`: the call goes to that department instead of the number's action
//!    (a name the plan does not know is ignored, and said so).
//! 2. `owner`: with `route_to_owner`, the owner is rung first, like a returning
//!    caller's manager: unreachable (offline, paused, off hours) → the route of step 1
//!    at once; busy or in wrap-up → wait up to `owner_wait`, then that route.
//!
//! Only while the number is open: after hours the number's after-hours action wins,
//! whatever the CRM says. Priority, display name and tags do not route; the call layer
//! takes them to the queue and to the managers' phones.

use std::time::Duration;

use super::engine::{Availability, Env, Step};
use super::reason::{CrmWhy, Reason, Why};
use crate::config::{Action, NumberRoute};
use crate::model::CrmAnswer;

impl Env<'_> {
    /// The action the number's calls take with the CRM's department applied.
    pub(crate) fn crm_action(
        &self,
        route: &NumberRoute,
        crm: Option<&CrmAnswer>,
        reasons: &mut Reason,
    ) -> Action {
        let Some(name) = crm.and_then(|c| c.department.as_deref()) else {
            return route.action.clone();
        };
        let name = name.trim();
        if self.plan.departments.contains_key(name) {
            reasons.push(Why::Crm(CrmWhy::Department {
                department: name.to_string(),
            }));
            Action::Department(name.to_string())
        } else {
            reasons.push(Why::Crm(CrmWhy::DepartmentUnknown {
                name: name.to_string(),
            }));
            route.action.clone()
        }
    }

    /// The owner step, when the CRM names an owner and the plan routes to owners;
    /// `action` is where the call goes otherwise.
    pub(crate) fn crm_owner(
        &self,
        crm: Option<&CrmAnswer>,
        action: &Action,
        reasons: &mut Reason,
    ) -> Option<Step> {
        let policy = self.plan.integrations.lookup.as_ref()?;
        if !policy.route_to_owner {
            return None;
        }
        let owner = crm?.owner.as_deref()?.trim();
        if owner.is_empty() {
            return None;
        }
        let Some(manager) = self.plan.manager_by_extension(owner) else {
            reasons.push(Why::Crm(CrmWhy::OwnerUnknown {
                name: owner.to_string(),
            }));
            return None;
        };
        let name = manager.name.clone();
        let mut fallback_reasons = Reason::one(Why::Then(action.clone()));
        let fallback = self.resolve(action, &mut fallback_reasons, 0);
        let availability = self.availability(manager, &self.states.get(&name), Duration::ZERO);
        if availability != Availability::Free && !availability.is_occupied() {
            reasons.push(Why::Crm(CrmWhy::OwnerUnreachable {
                manager: name,
                availability: availability.to_string(),
                fallback: action.clone(),
            }));
            reasons.extend(fallback_reasons);
            return Some(fallback);
        }
        reasons.push(Why::Crm(CrmWhy::Owner {
            manager: name.clone(),
            occupied: availability.is_occupied().then(|| availability.to_string()),
            wait_secs: policy.owner_wait.as_secs(),
            fallback: action.clone(),
        }));
        Some(Step::Manager {
            name,
            ring_timeout: manager.ring_timeout,
            wait: policy.owner_wait,
            fallback: Box::new(fallback),
        })
    }
}
