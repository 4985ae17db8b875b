//! Whole-plan checks on the menu graph: menus nothing leads to (a warning: probably a
//! leftover) and menus a caller can never leave (an error: a trap with no person,
//! voicemail or hang-up at the end).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::diagnostic::Sink;
use super::plan::{Action, DialPlan};

pub(crate) fn check_menus(
    plan: &DialPlan,
    spans: &BTreeMap<String, Range<usize>>,
    sink: &mut Sink,
) {
    unreachable_menus(plan, spans, sink);
    trapped_menus(plan, spans, sink);
}

/// Menus reachable from the entry points: numbers, departments, managers and the
/// history fallback; then transitively through menu options and `on_failure`.
fn unreachable_menus(plan: &DialPlan, spans: &BTreeMap<String, Range<usize>>, sink: &mut Sink) {
    let mut roots: Vec<&Action> = Vec::new();
    for n in &plan.numbers {
        roots.push(&n.action);
        roots.push(&n.after_hours);
    }
    for d in plan.departments.values() {
        roots.push(&d.overflow);
        roots.push(&d.after_hours);
    }
    roots.extend(plan.managers.values().map(|m| &m.unavailable));
    roots.extend(plan.history.on_unavailable.iter());

    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut todo: Vec<&str> = roots.into_iter().filter_map(Action::menu).collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(menu) = plan.menus.get(name) {
            let next = menu
                .options
                .values()
                .chain(std::iter::once(&menu.on_failure));
            todo.extend(next.filter_map(Action::menu));
        }
    }
    for name in plan.menus.keys() {
        if !seen.contains(name.as_str()) {
            sink.warning(
                spans.get(name).cloned(),
                format!(
                    "menu \"{name}\" is never used: no number, menu or department leads to it; \
                     remove it or point an action at \"menu:{name}\""
                ),
            );
        }
    }
}

/// A menu has an exit when one of its options leads somewhere other than a menu
/// (department, manager, voicemail, hang-up), to a menu with an exit, or `back` to a
/// menu with an exit. `on_failure` does not count: callers should not have to fail
/// their way out. Computed as a fixed point over the menu graph.
fn trapped_menus(plan: &DialPlan, spans: &BTreeMap<String, Range<usize>>, sink: &mut Sink) {
    // Parents: menus with an option leading to each menu (where `back` can go).
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, menu) in &plan.menus {
        for target in menu.options.values().filter_map(Action::menu) {
            parents.entry(target).or_default().insert(name);
        }
    }
    let mut exits: BTreeSet<&str> = BTreeSet::new();
    loop {
        let before = exits.len();
        for (name, menu) in &plan.menus {
            if exits.contains(name.as_str()) {
                continue;
            }
            let leaves = menu.options.values().any(|a| match a.target() {
                Action::Menu(m) => exits.contains(m.as_str()),
                Action::Repeat => false,
                Action::Back => parents
                    .get(name.as_str())
                    .is_some_and(|ps| ps.iter().any(|p| exits.contains(p))),
                _ => true,
            });
            if leaves {
                exits.insert(name);
            }
        }
        if exits.len() == before {
            break;
        }
    }
    for (name, menu) in &plan.menus {
        if exits.contains(name.as_str()) {
            continue;
        }
        let message = if menu.options.is_empty() {
            format!(
                "menu \"{name}\" has no options, so callers can only wait for it to fail; add \
                 options such as \"1\" = \"department:sales\""
            )
        } else {
            let mut loop_menus: BTreeSet<&str> =
                menu.options.values().filter_map(Action::menu).collect();
            loop_menus.insert(name);
            let list: Vec<String> = loop_menus.iter().map(|m| format!("\"{m}\"")).collect();
            let word = if list.len() > 1 { "menus" } else { "menu" };
            format!(
                "menu \"{name}\" is a loop with no exit: every option leads back to {word} {}, \
                 never to a person, voicemail or hang-up; add an option such as \"0\" = \
                 \"department:NAME\"",
                list.join(", ")
            )
        };
        sink.error(spans.get(name).cloned(), message);
    }
}
