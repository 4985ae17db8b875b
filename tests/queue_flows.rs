//! Issue 13 on a virtual clock, through the sans-IO endpoint with every SIP message as
//! text: a queued caller hears their position and wait at the configured times, VIPs go
//! first, a paused manager is not rung. The callback flows are in `queue_callbacks.rs`.

mod flows;

use std::time::Duration;

use flows::queue::*;
use flows::{H, SOFIA, header};
use switchboard::store::StoreWrite;

#[test]
fn position_and_wait_are_announced_on_entering_and_every_announce_secs() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    let _ = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    let k2 = c2.key;
    // On entering: position 1, the default handle time (180 s) for one manager → about
    // 3 minutes, and the callback offer with its key.
    let (id, p) = last_play(&h, k2);
    assert_eq!(
        p,
        [
            "queue_position",
            "num_1",
            "queue_in_line",
            "queue_wait_about",
            "num_3",
            "queue_minutes",
            "callback_offer",
            "digit_5"
        ]
    );
    assert!(id & 0x8000_0000 != 0, "announcements are not IVR plays");
    // The announcement ends: hold music again.
    finish(&mut h, k2, id);
    let (_, p) = last_play(&h, k2);
    assert_eq!(p, ["hold_music"]);
    // Caller 3 queues behind: position 2, about 6 minutes.
    let c3 = call_in(&mut h, 3);
    let (id3, p3) = last_play(&h, c3.key);
    assert_eq!(
        &p3[..6],
        [
            "queue_position",
            "num_2",
            "queue_in_line",
            "queue_wait_about",
            "num_6",
            "queue_minutes"
        ]
    );
    finish(&mut h, c3.key, id3);
    // Every 30 s after entering, again: at 30 s and 60 s, not before.
    let count = |h: &H| {
        plays(h, k2)
            .iter()
            .filter(|(_, p)| announcement_of(p))
            .count()
    };
    h.advance(Duration::from_millis(29_900));
    assert_eq!(count(&h), 1);
    h.advance(Duration::from_millis(200));
    assert_eq!(count(&h), 2);
    let (id, _) = last_play(&h, k2);
    finish(&mut h, k2, id);
    h.advance(Duration::from_secs(30));
    assert_eq!(count(&h), 3);
    // Caller 2 gives up: caller 3 moves up and hears position 1 next time.
    caller_bye(&mut h, &c2);
    let (id, _) = last_play(&h, c3.key);
    finish(&mut h, c3.key, id);
    h.advance(Duration::from_secs(30));
    let (_, p) = last_play(&h, c3.key);
    assert_eq!(
        &p[..3],
        ["queue_position", "num_1", "queue_in_line"],
        "{p:?}"
    );
}

#[test]
fn a_vip_arriving_later_is_served_first_and_arrival_order_holds_within_a_priority() {
    let mut h = H::new(
        "10.0.0.0/24",
        &plan("[priority]\ncallers = { \"5550004\" = 9, \"5550005\" = 9 }\n"),
    );
    let (_, leg1) = sofia_busy(&mut h);
    let c2 = call_in(&mut h, 2);
    let c3 = call_in(&mut h, 3);
    let c4 = call_in(&mut h, 4); // VIP
    let c5 = call_in(&mut h, 5); // VIP, after c4
    let q = h.ep.queues(h.wall);
    let support = q
        .departments
        .iter()
        .find(|d| d.department == "support")
        .unwrap();
    let order: Vec<&str> = support.waiting.iter().map(|w| w.caller.as_str()).collect();
    assert_eq!(order, ["5550004", "5550005", "5550002", "5550003"]);
    assert_eq!(support.waiting[0].priority, 9);
    // The VIP heard position 1; the ordinary callers' places moved back.
    let (_, p) = last_play(&h, c4.key);
    assert_eq!(&p[..2], ["queue_position", "num_1"]);
    // Sofia frees up: the VIPs first, in their arrival order.
    let mut rung = Vec::new();
    let mut leg = leg1;
    for (i, c) in [&c4, &c5, &c2, &c3].iter().enumerate() {
        sofia_hangs_up(&mut h, &leg, &format!("s{}", i + 1), 10 + i as u32);
        trunk_answers_bye(&mut h);
        let inv = h.request_to(SOFIA, "INVITE");
        rung.push(header(&inv, "X-Switchboard-Call-ID"));
        answer(&mut h, SOFIA, &inv, &format!("s{}", i + 2));
        let _ = c;
        leg = inv;
    }
    assert_eq!(rung, ["caller-4", "caller-5", "caller-2", "caller-3"]);
}

#[test]
fn a_paused_manager_is_not_rung_and_the_pause_is_recorded_with_its_reason() {
    let mut h = H::new("10.0.0.0/24", &plan(""));
    h.ep.agent_command(
        h.now,
        h.wall,
        "sofia",
        &switchboard::endpoint::AgentCommand::Pause {
            reason: "meeting".into(),
        },
    )
    .unwrap();
    h.drain();
    let c1 = call_in(&mut h, 1);
    assert!(h.take_to(SOFIA).is_empty(), "a paused manager is not rung");
    let _ = c1;
    h.advance(Duration::from_secs(90));
    h.ep.agent_command(
        h.now,
        h.wall,
        "sofia",
        &switchboard::endpoint::AgentCommand::Unpause,
    )
    .unwrap();
    h.drain();
    let intervals: Vec<_> = h
        .writes
        .iter()
        .filter_map(|w| match w {
            StoreWrite::AgentState(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(intervals.len(), 2, "{intervals:?}");
    assert_eq!(intervals[0].detail, "meeting");
    assert!(intervals[0].ended_at.is_none());
    assert_eq!(intervals[1].ended_at, Some(h.wall));
    // Unknown names are refused.
    let e =
        h.ep.agent_command(
            h.now,
            h.wall,
            "nobody",
            &switchboard::endpoint::AgentCommand::Unpause,
        )
        .unwrap_err();
    assert!(e.to_string().contains("no manager"), "{e}");
}
