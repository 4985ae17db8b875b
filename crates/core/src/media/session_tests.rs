//! Unit tests of the media session (kept apart to keep session.rs readable).

use super::*;
use crate::media::Prompt;

/// What [`session`] is made with.
fn pcmu_params() -> MediaParams {
    MediaParams {
        remote: Some("127.0.0.1:4000".parse().unwrap()),
        codec: Codec::Pcmu,
        pt: 0,
        te_pt: Some(101),
        hold: false,
        srtp: None,
    }
}

fn session(t0: Instant, timeout: Duration) -> MediaSession {
    let mut set = PromptSet::new();
    set.insert(Prompt::from_pcm("a", vec![1000; 160 * 3]));
    set.insert(Prompt::from_pcm("b", vec![1000; 160 * 2]));
    MediaSession::new(
        t0,
        pcmu_params(),
        Arc::new(set),
        timeout,
        LatchConfig::default(),
        false,
        1,
        100,
        1000,
    )
}

fn frames(s: &mut MediaSession, from: Instant, n: u32) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buf = [0u8; 200];
    (0..n)
        .filter_map(|i| {
            let now = from + PTIME * i;
            s.poll_transmit(now, &mut buf)
                .map(|(a, l)| (a, buf[..l].to_vec()))
        })
        .collect()
}

#[test]
fn a_prompt_list_finishes_once_at_its_end() {
    let t0 = Instant::now();
    let mut s = session(t0, Duration::ZERO);
    s.play(t0, 7, &["a".into(), "b".into()], Duration::ZERO);
    let sent = frames(&mut s, t0, 4);
    assert_eq!(sent.len(), 4);
    assert_eq!(
        s.poll_event(),
        None,
        "the first prompt ending is not the end of the list"
    );
    frames(&mut s, t0 + PTIME * 4, 1);
    assert_eq!(
        s.poll_event(),
        Some(MediaEvent::PlaybackFinished {
            play_id: 7,
            ended: t0 + PTIME * 4
        })
    );
    frames(&mut s, t0 + PTIME * 5, 3);
    assert_eq!(s.poll_event(), None);
}

/// A menu's list (played with a first-key wait) reports its end only when the caller's
/// first key arrives, and before it; with no key, when the wait is over. Either way the
/// report says when the prompts really ended (`listing.rs`).
#[test]
fn a_menus_end_waits_for_the_first_key_and_comes_before_it() {
    let t0 = Instant::now();
    let wait = Duration::from_secs(5);
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut s = session(t0, Duration::ZERO);
    s.play(t0, 7, &["a".into(), "b".into()], wait);
    frames(&mut s, t0, 5 + 100);
    assert_eq!(
        s.poll_event(),
        None,
        "two seconds after the end: still waiting"
    );
    let mut key = rtp(101, 1, 9_000, 5, &[1, 0x0A, 0, 160]);
    let _ = s.handle_rtp(t0 + PTIME * 105, from, &mut key);
    assert_eq!(
        s.poll_event(),
        Some(MediaEvent::PlaybackFinished {
            play_id: 7,
            ended: t0 + PTIME * 4
        })
    );
    assert!(matches!(
        s.poll_event(),
        Some(MediaEvent::Digit { digit: '1', .. })
    ));

    // No key: reported once the wait is over, not before.
    s.play(t0 + PTIME * 110, 8, &["b".into()], wait);
    frames(&mut s, t0 + PTIME * 110, 2);
    let last = t0 + PTIME * 111;
    frames(&mut s, t0 + PTIME * 112, 250); // five seconds after the end
    assert_eq!(s.poll_event(), None, "the margin is not over yet");
    frames(&mut s, t0 + PTIME * 362, 1);
    let mut events = std::iter::from_fn(|| s.poll_event());
    assert_eq!(
        events.next(),
        Some(MediaEvent::PlaybackFinished {
            play_id: 8,
            ended: last
        })
    );
    assert_eq!(events.next(), None);
}

#[test]
fn missing_prompt_is_skipped_not_waited_for() {
    let t0 = Instant::now();
    let mut s = session(t0, Duration::ZERO);
    s.play(t0, 3, &["nope".into()], Duration::ZERO);
    assert_eq!(
        s.poll_event(),
        Some(MediaEvent::PlaybackFinished {
            play_id: 3,
            ended: t0
        })
    );
}

#[test]
fn latches_onto_rtp_source_and_paces_without_drift() {
    let t0 = Instant::now();
    let mut s = session(t0, Duration::ZERO);
    let mut pkt = [0u8; 172];
    pkt[0] = 0x80; // V=2, PT 0
    let nat: SocketAddr = "192.0.2.7:31000".parse().unwrap();
    // Behind NAT: a run of consecutive packets from one source teaches the address.
    for seq in 0..u16::from(crate::media::latch::LEARN_PACKETS) {
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        assert_eq!(
            s.handle_rtp(t0, nat, &mut pkt),
            None,
            "not bridged: nothing to relay"
        );
    }
    let sent = frames(&mut s, t0, 500);
    assert_eq!(sent.len(), 500);
    assert!(
        sent.iter().all(|(a, _)| *a == nat),
        "symmetric RTP: send where the caller sends from"
    );
    assert_eq!(s.next_deadline(), t0 + PTIME * 500);
    // sequence and timestamp advance per frame
    let seq = |p: &Vec<u8>| u16::from_be_bytes([p[2], p[3]]);
    assert_eq!(seq(&sent[499].1).wrapping_sub(seq(&sent[0].1)), 499);
}

#[test]
fn silence_from_the_caller_times_out_once_but_not_on_hold() {
    let t0 = Instant::now();
    let mut s = session(t0, Duration::from_secs(30));
    frames(&mut s, t0 + Duration::from_secs(31), 1);
    assert_eq!(s.poll_event(), Some(MediaEvent::RtpTimeout));
    frames(&mut s, t0 + Duration::from_secs(32), 1);
    assert_eq!(s.poll_event(), None);

    let mut s = session(t0, Duration::from_secs(30));
    let mut held = pcmu_params();
    held.hold = true;
    s.update(t0, held);
    frames(&mut s, t0 + Duration::from_secs(60), 1);
    assert_eq!(s.poll_event(), None);
}

/// What [`pcma_session`] is made with.
fn pcma_params() -> MediaParams {
    MediaParams {
        remote: Some("127.0.0.1:5000".parse().unwrap()),
        codec: Codec::Pcma,
        pt: 8,
        te_pt: Some(96),
        hold: false,
        srtp: None,
    }
}

fn pcma_session(t0: Instant) -> MediaSession {
    let prompts = Arc::new(PromptSet::new());
    MediaSession::new(
        t0,
        pcma_params(),
        prompts,
        Duration::ZERO,
        LatchConfig::default(),
        false,
        2,
        7,
        70,
    )
}

fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut s = crate::media::RtpSender::new(ssrc, seq, ts, pt);
    let mut buf = vec![0u8; 12 + payload.len()];
    s.write_packet(payload, 160, &mut buf).unwrap();
    buf[1] &= 0x7F; // mid-stream: no marker
    buf
}

#[test]
fn relay_continues_the_prompt_stream_and_unbridge_continues_the_relay() {
    let t0 = Instant::now();
    let mut b = session(t0, Duration::ZERO); // PCMU, ssrc 1, seq 100, ts 1000
    let mut a = pcma_session(t0);
    // Three silence frames towards B's peer: seq 100-102, ts 1000-1320.
    assert_eq!(frames(&mut b, t0, 3).len(), 3);
    let t1 = t0 + PTIME * 3;
    a.bridge(t1);
    b.bridge(t1);
    assert!(a.is_bridged() && b.is_bridged());
    assert_eq!(frames(&mut b, t1, 5).len(), 0, "bridged: no paced frames");

    let peer_a: SocketAddr = "127.0.0.1:5000".parse().unwrap(); // its SDP address
    let mut out = [0u8; 200];
    let mut last = (0u16, 0u32);
    for i in 0..3u16 {
        let mut pkt = rtp(8, 40_000 + i, 9_000 + u32::from(i) * 160, 77, &[0xD5; 160]);
        let fwd = a
            .handle_rtp(t1, peer_a, &mut pkt)
            .expect("bridged: forward");
        assert_eq!(fwd.src.law, Law::Alaw);
        let (dest, n) = b.relay_out(&fwd, &mut out).unwrap();
        assert_eq!(dest, "127.0.0.1:4000".parse().unwrap());
        let v = parse_rtp(&out[..n]).unwrap();
        assert_eq!((v.ssrc, v.payload_type), (1, 0));
        assert_eq!(v.seq, 103 + i);
        assert_eq!(v.timestamp, 1480 + u32::from(i) * 160);
        assert_eq!(v.marker, i == 0);
        assert!(
            v.payload.iter().all(|&x| x == 0xFE),
            "A-law silence → μ-law"
        );
        last = (v.seq, v.timestamp);
    }
    // Unbridge: paced frames carry on from the relayed stream, marked.
    let t2 = t1 + Duration::from_secs(2);
    b.unbridge(t2);
    assert!(!b.is_bridged());
    assert_eq!(b.next_deadline(), t2);
    let sent = frames(&mut b, t2, 2);
    let v = parse_rtp(&sent[0].1).unwrap();
    assert_eq!((v.seq, v.timestamp), (last.0 + 1, last.1 + 160));
    assert!(v.marker);
    assert_eq!(parse_rtp(&sent[1].1).unwrap().seq, last.0 + 2);
    // B no longer relays, whatever A still forwards.
    let mut pkt = rtp(8, 40_003, 9_480, 77, &[0xD5; 160]);
    let fwd = a.handle_rtp(t2, peer_a, &mut pkt).unwrap();
    assert_eq!(b.relay_out(&fwd, &mut out), None);
}

#[test]
fn bridged_leg_reports_digits_and_forwards_events_remapped() {
    let t0 = Instant::now();
    let mut a = session(t0, Duration::ZERO); // te 101
    let mut b = pcma_session(t0); // te 96
    a.bridge(t0);
    b.bridge(t0);
    let mut ev = rtp(101, 5, 800, 9, &[1, 0x0A, 0, 160]);
    let fwd = a
        .handle_rtp(t0, "127.0.0.1:4000".parse().unwrap(), &mut ev)
        .unwrap();
    assert_eq!(
        a.poll_event(),
        Some(MediaEvent::Digit {
            digit: '1',
            source: DigitSource::Rfc4733
        })
    );
    let mut out = [0u8; 64];
    let (_, n) = b.relay_out(&fwd, &mut out).unwrap();
    let v = parse_rtp(&out[..n]).unwrap();
    assert_eq!((v.payload_type, v.ssrc), (96, 2));
    assert_eq!(v.payload, &[1, 0x0A, 0, 160]);
    // Comfort noise is neither latched nor forwarded.
    assert_eq!(
        a.handle_rtp(
            t0,
            "127.0.0.1:4000".parse().unwrap(),
            &mut rtp(13, 6, 960, 9, &[40])
        ),
        None
    );
}

/// 20 ms of a loud square-ish tone in `law`, and its decoded samples.
fn tone(law: Law) -> (Vec<u8>, Vec<i16>) {
    let pcm: Vec<i16> = (0..160)
        .map(|i| if i % 8 < 4 { 6000 } else { -6000 })
        .collect();
    let bytes = crate::media::g711::encode_vec(law, &pcm);
    let mut decoded = vec![0i16; 160];
    crate::media::g711::decode(law, &bytes, &mut decoded);
    (bytes, decoded)
}

fn records(s: &mut MediaSession) -> Vec<RecordOutput> {
    std::iter::from_fn(|| s.poll_record()).collect()
}

#[test]
fn records_decoded_audio_fills_lost_packets_and_ends_on_a_stop_digit() {
    let t0 = Instant::now();
    let mut s = session(t0, Duration::ZERO);
    s.play(t0, 1, &["a".into()], Duration::ZERO); // the beep plays while recording starts
    let path = PathBuf::from("/tmp/vm/1.wav");
    s.start_recording(
        t0,
        9,
        path.clone(),
        Duration::from_secs(60),
        Duration::from_secs(5),
        "#",
    );
    let (bytes, decoded) = tone(Law::Ulaw);
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    for i in 0..62u16 {
        if i == 10 || i == 11 {
            continue; // lost
        }
        let mut pkt = rtp(0, i, u32::from(i) * 160, 5, &bytes);
        let _ = s.handle_rtp(t0 + PTIME * u32::from(i), from, &mut pkt);
        let _ = s.poll_transmit(t0 + PTIME * u32::from(i), &mut [0u8; 200]);
    }
    let mut late = rtp(0, 59, 59 * 160, 5, &bytes); // a duplicate: not recorded twice
    let _ = s.handle_rtp(t0 + PTIME * 62, from, &mut late);
    assert!(s.is_recording());
    let mut hash = rtp(101, 62, 62 * 160, 5, &[11, 0x0A, 0, 160]);
    let _ = s.handle_rtp(t0 + PTIME * 62, from, &mut hash);
    assert!(!s.is_recording());
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&MediaEvent::Digit {
        digit: '#',
        source: DigitSource::Rfc4733
    }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MediaEvent::PlaybackFinished { play_id: 1, .. }))
    );
    let out = records(&mut s);
    assert_eq!(
        out.first(),
        Some(&RecordOutput::Start {
            record_id: 9,
            path: path.clone()
        })
    );
    let mut pcm = Vec::new();
    for o in &out[1..out.len() - 1] {
        let RecordOutput::Audio {
            record_id: 9,
            samples,
        } = o
        else {
            panic!("audio expected, got {o:?}");
        };
        pcm.extend_from_slice(samples);
    }
    assert_eq!(pcm.len(), 62 * 160, "two lost packets recorded as silence");
    assert!(pcm[1600..1920].iter().all(|&x| x == 0));
    assert_eq!(&pcm[..160], &decoded[..]);
    assert_eq!(&pcm[pcm.len() - 160..], &decoded[..]);
    assert_eq!(
        out.last(),
        Some(&RecordOutput::End {
            record_id: 9,
            path,
            result: crate::media::recorder::RecordResult {
                duration: Duration::from_millis(1240),
                ended_by: crate::media::RecordEnd::Digit('#'),
                silent: false,
            }
        })
    );
}

#[test]
fn records_a_law_until_stopped_and_a_new_recording_ends_the_old_one() {
    let t0 = Instant::now();
    let mut s = pcma_session(t0);
    let long = Duration::from_secs(60);
    s.start_recording(t0, 1, "a.wav".into(), long, Duration::ZERO, "");
    let (bytes, decoded) = tone(Law::Alaw);
    for i in 0..10u16 {
        let mut pkt = rtp(8, i, u32::from(i) * 160, 5, &bytes);
        let _ = s.handle_rtp(t0, "127.0.0.1:5000".parse().unwrap(), &mut pkt);
    }
    s.start_recording(t0, 2, "b.wav".into(), long, Duration::ZERO, "");
    s.stop_recording(t0);
    s.stop_recording(t0); // not recording any more: nothing
    let out = records(&mut s);
    assert_eq!(out.len(), 5, "{out:?}");
    let RecordOutput::Audio {
        record_id: 1,
        samples,
    } = &out[1]
    else {
        panic!("{:?}", out[1]);
    };
    assert_eq!(samples.len(), 1600);
    assert!(samples.chunks(160).all(|c| c == decoded));
    let ends: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            RecordOutput::End {
                record_id, result, ..
            } => Some((*record_id, result.duration, result.ended_by.clone())),
            _ => None,
        })
        .collect();
    let stopped = crate::media::RecordEnd::Stopped;
    assert_eq!(
        ends,
        vec![
            (1, Duration::from_millis(200), stopped.clone()),
            (2, Duration::ZERO, stopped)
        ]
    );
}

#[test]
fn a_recording_nobody_speaks_into_ends_in_the_pacer_path() {
    let t0 = Instant::now();
    let mut s = session(t0, Duration::ZERO);
    s.start_recording(
        t0,
        4,
        "c.wav".into(),
        Duration::from_secs(2),
        Duration::ZERO,
        "#",
    );
    let _ = records(&mut s);
    frames(&mut s, t0, 100);
    assert!(s.is_recording(), "within the grace period");
    frames(&mut s, t0 + Duration::from_secs(3), 1);
    let out = records(&mut s);
    let [RecordOutput::End { result, .. }] = &out[..] else {
        panic!("{out:?}");
    };
    assert_eq!(result.ended_by, crate::media::RecordEnd::MaxLength);
    assert!(result.silent);
}

#[test]
fn bridged_leg_on_hold_receives_nothing_and_silence_still_times_out() {
    let t0 = Instant::now();
    let mut a = pcma_session(t0);
    let mut b = session(t0, Duration::from_secs(30));
    b.play(t0, 4, &["a".into()], Duration::ZERO);
    a.bridge(t0);
    b.bridge(t0);
    assert_eq!(
        b.poll_event(),
        None,
        "bridging stops playback without a finish event"
    );
    b.play(t0, 5, &["a".into()], Duration::ZERO);
    assert_eq!(
        b.poll_event(),
        Some(MediaEvent::PlaybackFinished {
            play_id: 5,
            ended: t0
        }),
        "nothing plays on a bridged leg, so the list finishes at once"
    );
    // The pacer only visits a bridged session once per BRIDGED_CHECK.
    assert_eq!(frames(&mut b, t0, 1).len(), 0);
    assert_eq!(b.next_deadline(), t0 + BRIDGED_CHECK);
    frames(&mut b, t0 + Duration::from_secs(31), 1);
    assert_eq!(b.poll_event(), Some(MediaEvent::RtpTimeout));

    let mut held = pcmu_params();
    held.hold = true;
    b.update(t0, held);
    let mut pkt = rtp(8, 1, 1, 3, &[0xD5; 160]);
    let fwd = a
        .handle_rtp(t0, "127.0.0.1:5000".parse().unwrap(), &mut pkt)
        .unwrap();
    let mut out = [0u8; 200];
    assert_eq!(b.relay_out(&fwd, &mut out), None);
}

/// A manager's leg (PCMU, te 101) holding back `*22`/`*23`, and the caller's (PCMA,
/// te 96), bridged.
fn gated_pair(t0: Instant) -> (MediaSession, MediaSession) {
    let mut m = session(t0, Duration::ZERO);
    m.set_feature_codes(vec!["*22".into(), "*23".into()], Duration::from_secs(2));
    let mut c = pcma_session(t0);
    m.bridge(t0);
    c.bridge(t0);
    (m, c)
}

/// The manager presses `code` (RFC 4733 event number) at `ts`: start, two updates and
/// three end packets. Returns how many of them would be relayed.
fn press(m: &mut MediaSession, now: Instant, seq: u16, ts: u32, code: u8) -> usize {
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap(); // its SDP address
    let packets = [
        [code, 0x0A, 0, 160],
        [code, 0x0A, 1, 64],
        [code, 0x0A, 1, 224],
        [code, 0x8A, 3, 32],
        [code, 0x8A, 3, 32],
        [code, 0x8A, 3, 32],
    ];
    packets
        .iter()
        .zip(0u16..)
        .filter(|(p, i)| {
            m.handle_rtp(now, from, &mut rtp(101, seq + i, ts, 9, *p))
                .is_some()
        })
        .count()
}

fn events(s: &mut MediaSession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn released(s: &mut MediaSession) -> String {
    std::iter::from_fn(|| s.poll_released_digit()).collect()
}

#[test]
fn a_managers_feature_code_never_reaches_the_caller() {
    let t0 = Instant::now();
    let (mut m, _c) = gated_pair(t0);
    assert_eq!(press(&mut m, t0, 10, 1000, 10), 0, "'*' is held");
    assert_eq!(
        press(&mut m, t0 + Duration::from_millis(400), 20, 4200, 2),
        0
    );
    assert_eq!(
        press(&mut m, t0 + Duration::from_millis(800), 30, 7400, 2),
        0
    );
    let digit = |d| MediaEvent::Digit {
        digit: d,
        source: DigitSource::Rfc4733,
    };
    assert_eq!(
        events(&mut m),
        vec![
            digit('*'),
            digit('2'),
            digit('2'),
            MediaEvent::FeatureCode { code: "*22".into() }
        ]
    );
    assert_eq!(released(&mut m), "");
    // A late retransmission of the star's end packet is held back too.
    let mut late = rtp(101, 16, 1000, 9, &[10, 0x8A, 3, 32]);
    assert!(
        m.handle_rtp(t0, "192.0.2.5:30000".parse().unwrap(), &mut late)
            .is_none()
    );
    // Nothing is released later either.
    let mut buf = [0u8; 200];
    m.poll_transmit(t0 + Duration::from_secs(10), &mut buf);
    assert_eq!(released(&mut m), "");
}

#[test]
fn an_ordinary_key_is_relayed_as_it_comes() {
    let t0 = Instant::now();
    let (mut m, _c) = gated_pair(t0);
    assert_eq!(
        press(&mut m, t0, 10, 1000, 5),
        6,
        "every packet of '5' relayed"
    );
    assert_eq!(released(&mut m), "");
}

#[test]
fn a_broken_code_is_regenerated_towards_the_caller_in_order() {
    let t0 = Instant::now();
    let (mut m, mut c) = gated_pair(t0);
    assert_eq!(press(&mut m, t0, 10, 1000, 10), 0);
    assert_eq!(
        press(&mut m, t0, 20, 4200, 5),
        0,
        "held: it follows the star"
    );
    assert_eq!(released(&mut m), "*5");
    let mut out = [0u8; 64];
    let mut got = Vec::new();
    for d in ['*', '5'] {
        for end in [false, true, true, true] {
            let (dest, n) = c.relay_digit(d, end, &mut out).unwrap();
            assert_eq!(dest, "127.0.0.1:5000".parse().unwrap());
            let v = parse_rtp(&out[..n]).unwrap();
            assert_eq!((v.payload_type, v.ssrc), (96, 2));
            got.push((
                v.payload[0],
                v.payload[1] & 0x80 != 0,
                v.marker,
                v.timestamp,
            ));
        }
    }
    assert_eq!(got[0], (10, false, true, 70));
    assert!(got[1..4].iter().all(|g| *g == (10, true, false, 70)));
    assert_eq!(got[4], (5, false, true, 870), "a timestamp of its own");
}

#[test]
fn held_keys_are_released_when_the_manager_stops_pressing() {
    let t0 = Instant::now();
    let (mut m, _c) = gated_pair(t0);
    press(&mut m, t0, 10, 1000, 10);
    press(&mut m, t0 + Duration::from_millis(500), 20, 5000, 2);
    let release_at = t0 + Duration::from_millis(2500);
    let mut buf = [0u8; 200];
    m.poll_transmit(t0 + Duration::from_secs(2), &mut buf);
    assert_eq!(released(&mut m), "");
    assert_eq!(
        m.next_deadline(),
        release_at,
        "the pacer comes back at the release, sooner than its next RTP check"
    );
    m.poll_transmit(release_at, &mut buf);
    assert_eq!(released(&mut m), "*2");
    // The caller's leg on hold gets nothing regenerated.
    let mut c = pcma_session(t0);
    c.bridge(t0);
    c.update(
        t0,
        MediaParams {
            hold: true,
            ..pcma_params()
        },
    );
    assert_eq!(c.relay_digit('*', false, &mut buf), None);
}

/// Issue 11 item 1: one packet from a stranger neither turns the stream towards them
/// nor presses a key, while the peer's own packets still do.
#[test]
fn a_strangers_packets_neither_redirect_the_stream_nor_press_keys() {
    let t0 = Instant::now();
    let mut s = session(t0, Duration::ZERO); // SDP 127.0.0.1:4000, te 101
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let evil: SocketAddr = "127.0.0.2:4000".parse().unwrap();
    let _ = s.handle_rtp(t0, peer, &mut rtp(0, 10, 1600, 42, &[0xFF; 160]));
    for i in 0..20u16 {
        let _ = s.handle_rtp(t0, evil, &mut rtp(0, 500 + i, 0, 99, &[0xFF; 160]));
        let _ = s.handle_rtp(t0, evil, &mut rtp(101, 600 + i, 0, 99, &[1, 0x8A, 0, 160]));
    }
    assert_eq!(s.poll_event(), None, "no digit from the stranger");
    assert_eq!(s.take_latch_stats(), (40, 0));
    let sent = frames(&mut s, t0, 5);
    assert!(sent.iter().all(|(a, _)| *a == peer), "{sent:?}");
    // The peer's own digit still counts.
    let _ = s.handle_rtp(t0, peer, &mut rtp(101, 11, 1760, 42, &[1, 0x8A, 0, 160]));
    assert_eq!(
        s.poll_event(),
        Some(MediaEvent::Digit {
            digit: '1',
            source: DigitSource::Rfc4733
        })
    );
}

/// A bridged leg relays nothing a stranger sends into it.
#[test]
fn a_bridged_leg_relays_nothing_from_a_stranger() {
    let t0 = Instant::now();
    let mut a = session(t0, Duration::ZERO);
    a.bridge(t0);
    let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    assert!(
        a.handle_rtp(t0, peer, &mut rtp(0, 1, 0, 42, &[0x55; 160]))
            .is_some()
    );
    let evil: SocketAddr = "127.0.0.2:4000".parse().unwrap();
    for i in 0..10u16 {
        assert!(
            a.handle_rtp(t0, evil, &mut rtp(0, i, 0, 99, &[0x55; 160]))
                .is_none()
        );
    }
    assert!(
        a.handle_rtp(t0, peer, &mut rtp(0, 2, 160, 42, &[0x55; 160]))
            .is_some()
    );
}

/// The fields a paced frame reads or writes stay together at the front of the session,
/// and the big, rarely used parts stay behind pointers: the pacer's own time is mostly
/// cache misses on these (see [`MediaSession`]'s doc comment). A field added in the
/// wrong place, or an optional part stored inline, fails here rather than quietly
/// costing every call a trip to memory every 20 ms.
#[test]
fn a_paced_frames_fields_stay_in_the_sessions_first_lines() {
    use std::mem::{offset_of, size_of};
    // The per-frame fields end where the relay begins; its first 16 bytes (`check_at`)
    // are counted with them, as whether the session is bridged is read every frame.
    let hot_end = offset_of!(MediaSession, relay) + 16;
    assert!(hot_end <= 7 * 64, "per-frame fields end at byte {hot_end}");
    for (name, offset) in [
        ("pacer", offset_of!(MediaSession, pacer)),
        ("sender", offset_of!(MediaSession, sender)),
        ("player", offset_of!(MediaSession, player)),
        ("latch", offset_of!(MediaSession, latch)),
        ("events", offset_of!(MediaSession, events)),
    ] {
        assert!(offset < hot_end, "{name} at {offset}");
    }
    for (name, offset) in [
        ("dtmf", offset_of!(MediaSession, dtmf)),
        ("rx_stats", offset_of!(MediaSession, rx_stats)),
        ("pcm_scratch", offset_of!(MediaSession, pcm_scratch)),
    ] {
        assert!(
            offset >= hot_end,
            "{name} at {offset}, among the per-frame fields"
        );
    }
    assert!(
        size_of::<MediaSession>() <= 768,
        "{} bytes",
        size_of::<MediaSession>()
    );
}
