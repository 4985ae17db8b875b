//! Call events (issue 14 item 1): a bridged call between real sipp peers reaches a
//! webhook receiver inside the test as signed JSON events, in order, stitched by the
//! call's id; the admin API's Server-Sent Events stream shows the same events.
mod common;
#[path = "support/receiver.rs"]
mod receiver;

use common::*;
use hmac::{KeyInit, Mac};
use receiver::{Answer, Server, SseClient};
use switchboard::store::{SqliteStore, Store};

const SECRET: &str = "whsec-events-test";

fn signature(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[test]
fn a_bridged_calls_events_reach_the_webhook_signed_in_order_and_the_sse_stream() {
    let _g = serial();
    let p = ports();
    let hook = Server::start(|_| Answer::ok("{}"));
    let phone = Phone::start(p, 0, "uas_answer.xml", &["-d", "300"]);
    let plan = format!(
        "[[numbers]]\nnumber = \"2000\"\nsource = \"google-ads\"\naction = \"department:sales\"\n\
         [departments.sales]\nmembers = [\"andrew\"]\n\
         [managers.andrew]\nextension = \"101\"\ncontact = \"{}\"\n",
        phone.contact()
    );
    let server = format!(
        "webhook_url = \"{}\"\nwebhook_secret = \"{SECRET}\"\nwebhook_events = [\"call.*\"]\n",
        hook.url("/hook")
    );
    let mut router = Router::start(p, &server, &plan);
    let sse = SseClient::connect(p.http, "/api/events");
    let answered_only = SseClient::connect(p.http, "/api/events?types=call.answered");
    let res = sipp(p, "uac_listen.xml", "u1", &["-s", "2000", "-d", "6000"]);
    res.assert_ok(&router);
    phone.wait().assert_ok(&router);

    let want = [
        "call.started",
        "call.routed",
        "call.ringing",
        "call.ring_ended",
        "call.answered",
        "call.ended",
    ];
    let got = hook.wait_until(|s| s.len() >= want.len(), || router.log());
    let metrics = http_get(p, "/metrics");
    router.stop();
    let record = {
        let store = SqliteStore::open(router.db()).unwrap();
        store
            .calls_between(jiff::Timestamp::UNIX_EPOCH, jiff::Timestamp::now())
            .unwrap()
            .remove(0)
    };

    // The webhook: every event signed, in order, numbered, naming the call.
    let bodies: Vec<serde_json::Value> = got.iter().map(|r| r.json()).collect();
    let names: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, want, "{bodies:#?}");
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.request_line, "POST /hook HTTP/1.1");
        assert_eq!(
            r.header("x-switchboard-signature"),
            Some(signature(&r.body).as_str()),
            "event {i} is signed"
        );
        assert_eq!(bodies[i]["call_id"], record.call_id.as_str());
        assert_eq!(bodies[i]["seq"], i as u64 + 1);
    }
    assert_eq!(bodies[0]["dialled"], "2000");
    assert_eq!(bodies[0]["source"], "google-ads");
    assert_eq!(bodies[1]["target"], "department:sales");
    assert!(
        bodies[1]["reason"]
            .as_str()
            .unwrap()
            .contains("matched \"2000\""),
        "{}",
        bodies[1]
    );
    assert_eq!(bodies[2]["manager"], "andrew");
    assert_eq!(bodies[3]["outcome"], "answered");
    assert_eq!(bodies[4]["manager"], "andrew");
    assert_eq!(bodies[5]["outcome"], "answered");
    assert_eq!(bodies[5]["cause"], "caller_hung_up");
    assert_eq!(bodies[5]["record"]["answered_by"], "andrew");
    assert_eq!(bodies[5]["record"]["call_id"], record.call_id.as_str());

    // The SSE stream: the same events, the same JSON; the filtered one only answers.
    let streamed = sse.events();
    let stream_names: Vec<&str> = streamed.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(stream_names, want, "{streamed:#?}");
    for (e, r) in streamed.iter().zip(&got) {
        assert_eq!(e.data.as_bytes(), r.body.as_slice());
    }
    let ids: Vec<u64> = streamed.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let answered = answered_only.events();
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0].event, "call.answered");
    assert!(
        metrics.contains(r#"switchboard_call_events_total{event="call.answered"} 1"#),
        "{metrics}"
    );
}
