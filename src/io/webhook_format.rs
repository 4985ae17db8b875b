//! Webhook bodies for people (`[server] webhook_format`): the outbox keeps every event
//! in Switchboard's JSON; at delivery it is posted as is (`json`), or rewritten into a
//! Slack message (`{"text": …}`, what Slack's incoming webhooks take) or a Microsoft
//! Teams message carrying an Adaptive Card (what Teams incoming webhooks and the
//! Workflows "when a webhook request is received" trigger take). The signature header
//! covers the body actually sent.

use serde_json::{Value, json};

use crate::config::server::WebhookFormat;

/// The body to POST for a stored event.
pub fn render(format: WebhookFormat, payload_json: &str) -> String {
    if format == WebhookFormat::Json {
        return payload_json.to_string();
    }
    let v: Value = serde_json::from_str(payload_json).unwrap_or(Value::Null);
    let (title, facts) = summary(&v);
    match format {
        WebhookFormat::Json => payload_json.to_string(),
        WebhookFormat::Slack => {
            let mut text = format!("*{}*", escape_slack(&title));
            for (k, val) in &facts {
                text.push_str(&format!("\n{}: {}", escape_slack(k), escape_slack(val)));
            }
            json!({ "text": text }).to_string()
        }
        WebhookFormat::Teams => {
            let facts: Vec<Value> = facts
                .iter()
                .map(|(k, v)| json!({"title": k, "value": v}))
                .collect();
            json!({
                "type": "message",
                "summary": title,
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {"type": "TextBlock", "text": title, "weight": "Bolder",
                             "size": "Medium", "wrap": true},
                            {"type": "FactSet", "facts": facts}
                        ]
                    }
                }]
            })
            .to_string()
        }
    }
}

/// Slack's mrkdwn control characters (`&`, `<`, `>`) escaped: caller names and numbers
/// come off the wire.
fn escape_slack(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A title and facts for a person, per event type.
pub fn summary(v: &Value) -> (String, Vec<(String, String)>) {
    let event = text(v, "event").unwrap_or_else(|| "event".into());
    let mut facts: Vec<(String, String)> = Vec::new();
    let mut fact = |k: &str, val: Option<String>| {
        if let Some(val) = val {
            facts.push((k.to_string(), val));
        }
    };
    let title = match event.as_str() {
        "callback.created" | "voicemail.created" => {
            let cb = v.get("callback").unwrap_or(&Value::Null);
            let caller = text(cb, "caller").unwrap_or_else(|| "an unknown caller".into());
            let department = text(cb, "department").unwrap_or_default();
            fact("Caller", Some(caller.clone()));
            fact("Department", Some(department.clone()));
            fact("Reason", text(cb, "reason").map(|r| r.replace('_', " ")));
            fact("Dialled", text(cb, "dialled"));
            fact(
                "Message",
                cb.get("recording_secs")
                    .and_then(Value::as_f64)
                    .map(|s| format!("{s:.0} s")),
            );
            fact("Request", text(cb, "id").map(|id| format!("#{id}")));
            if event == "voicemail.created" {
                format!("New voicemail from {caller} for {department}")
            } else {
                format!("Please call back {caller} ({department})")
            }
        }
        "alert.raised" => {
            fact("Kind", text(v, "kind"));
            format!(
                "Alert: {}",
                text(v, "message").unwrap_or_else(|| "missed work".into())
            )
        }
        e if e.starts_with("call.") => {
            let call_id = text(v, "call_id").unwrap_or_default();
            fact("Call", Some(call_id));
            for k in [
                "caller",
                "dialled",
                "target",
                "department",
                "manager",
                "from",
                "to",
                "outcome",
                "reason",
            ] {
                fact(k, text(v, k));
            }
            match e {
                "call.started" => format!(
                    "Incoming call from {}",
                    text(v, "caller").unwrap_or_default()
                ),
                "call.answered" => format!(
                    "Call answered by {}",
                    text(v, "manager").unwrap_or_default()
                ),
                "call.ended" => format!(
                    "Call ended: {}",
                    text(v, "outcome").unwrap_or_default().replace('_', " ")
                ),
                other => format!("Switchboard {other}"),
            }
        }
        other => format!("Switchboard {other}"),
    };
    (title, facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLBACK: &str = r#"{"event":"callback.created","callback":{"id":17,"department":"support","caller":"+15550001234","dialled":"+15550009999","reason":"after_hours","recording_secs":14.2}}"#;

    #[test]
    fn json_passes_through_untouched() {
        assert_eq!(render(WebhookFormat::Json, CALLBACK), CALLBACK);
    }

    #[test]
    fn slack_gets_text_and_teams_an_adaptive_card() {
        let slack: Value = serde_json::from_str(&render(WebhookFormat::Slack, CALLBACK)).unwrap();
        let t = slack["text"].as_str().unwrap();
        assert!(
            t.starts_with("*Please call back +15550001234 (support)*"),
            "{t}"
        );
        assert!(t.contains("Reason: after hours"), "{t}");
        assert!(t.contains("Message: 14 s"), "{t}");
        let teams: Value = serde_json::from_str(&render(WebhookFormat::Teams, CALLBACK)).unwrap();
        assert_eq!(teams["type"], "message");
        let card = &teams["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(
            card["content"]["body"][0]["text"],
            "Please call back +15550001234 (support)"
        );
        assert_eq!(card["content"]["body"][1]["facts"][0]["title"], "Caller");
    }

    #[test]
    fn slack_text_cannot_smuggle_links() {
        let ev = r#"{"event":"call.started","call_id":"x","caller":"<https://evil|click>"}"#;
        let slack: Value = serde_json::from_str(&render(WebhookFormat::Slack, ev)).unwrap();
        assert!(!slack["text"].as_str().unwrap().contains('<'));
    }
}
