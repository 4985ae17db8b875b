use super::*;
use crate::media::rtp::{RtpSender, parse_rtp};
use proptest::prelude::*;

const PCMU: LegFormat = LegFormat {
    law: Law::Ulaw,
    pt: 0,
    te_pt: Some(101),
};
const PCMA: LegFormat = LegFormat {
    law: Law::Alaw,
    pt: 8,
    te_pt: Some(96),
};
const DST_SSRC: u32 = 0xCAFE_F00D;

fn dst(format: LegFormat) -> Destination {
    Destination {
        format,
        ssrc: DST_SSRC,
    }
}

fn view(pt: u8, seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> RtpView<'_> {
    RtpView {
        payload_type: pt,
        marker: false,
        seq,
        timestamp,
        ssrc,
        payload,
    }
}

/// Rewrites one packet and parses the result (owned, for easy comparisons).
fn relay(
    rw: &mut StreamRewriter,
    rtp: &RtpView<'_>,
    src: LegFormat,
    to: LegFormat,
) -> Option<(u8, bool, u16, u32, u32, Vec<u8>)> {
    let mut out = [0u8; 400];
    let n = rw.rewrite(rtp, &src, &dst(to), &mut out)?;
    let v = parse_rtp(&out[..n]).unwrap();
    Some((
        v.payload_type,
        v.marker,
        v.seq,
        v.timestamp,
        v.ssrc,
        v.payload.to_vec(),
    ))
}

#[test]
fn same_law_payload_is_byte_identical_with_our_ssrc() {
    let payload: Vec<u8> = (0..160u8).collect();
    let mut rw = StreamRewriter::new(10, 1000);
    let (pt, marker, seq, ts, ssrc, body) = relay(
        &mut rw,
        &view(0, 7, 555, 42, &payload),
        PCMU,
        LegFormat {
            te_pt: None,
            ..PCMU
        },
    )
    .unwrap();
    assert_eq!((pt, marker, seq, ts, ssrc), (0, true, 10, 1000, DST_SSRC));
    assert_eq!(body, payload);
}

#[test]
fn dynamic_audio_pt_is_remapped() {
    let dyn_ulaw = LegFormat {
        law: Law::Ulaw,
        pt: 110,
        te_pt: None,
    };
    let mut rw = StreamRewriter::new(0, 0);
    let (pt, ..) = relay(&mut rw, &view(110, 1, 1, 1, &[0xFF; 160]), dyn_ulaw, PCMU).unwrap();
    assert_eq!(pt, 0);
}

#[test]
fn transcodes_known_bytes_both_ways() {
    // G.711 tables 3/4: μ 0xFF (+0) → A 0xD5, μ 0x7F (-0) → A 0x55,
    // μ 0x80 (+max) → A 0xAA, μ 0x00 (-max) → A 0x2A.
    let mut rw = StreamRewriter::new(0, 0);
    let got = relay(
        &mut rw,
        &view(0, 1, 1, 1, &[0xFF, 0x7F, 0x80, 0x00]),
        PCMU,
        PCMA,
    )
    .unwrap();
    assert_eq!(got.0, 8);
    assert_eq!(got.5, vec![0xD5, 0x55, 0xAA, 0x2A]);
    // A 0xD5 (+8) → μ 0xFE (+8), A 0xAA (+max) → μ 0x80, A 0x2A (-max) → μ 0x00.
    let mut rw = StreamRewriter::new(0, 0);
    let got = relay(&mut rw, &view(8, 1, 1, 1, &[0xD5, 0xAA, 0x2A]), PCMA, PCMU).unwrap();
    assert_eq!(got.0, 0);
    assert_eq!(got.5, vec![0xFE, 0x80, 0x00]);
}

#[test]
fn continues_the_prompt_stream_and_preserves_gaps() {
    // Our stream towards the destination: three prompt frames already sent.
    let mut sender = RtpSender::new(DST_SSRC, 300, 48_000, 0);
    let mut buf = [0u8; 200];
    for _ in 0..3 {
        sender.write_packet(&[0xFF; 160], 160, &mut buf).unwrap();
    }
    let (last_seq, last_ts) = (302u16, 48_320u32);
    let mut rw = StreamRewriter::new(sender.seq, sender.timestamp);
    let f = [0x55u8; 160];
    let first = relay(&mut rw, &view(0, 9000, 777_000, 5, &f), PCMU, PCMU).unwrap();
    assert_eq!(
        first.2,
        last_seq + 1,
        "sequence continues the prompt frames"
    );
    assert_eq!(
        first.3,
        last_ts + 160,
        "timestamp one frame after the last prompt"
    );
    assert!(first.1, "marker on the first relayed packet");
    let next = relay(&mut rw, &view(0, 9001, 777_160, 5, &f), PCMU, PCMU).unwrap();
    assert_eq!((next.1, next.2, next.3), (false, 304, 48_640));
    // Two packets lost upstream: the gap is kept for the far jitter buffer.
    let after_gap = relay(&mut rw, &view(0, 9004, 777_640, 5, &f), PCMU, PCMU).unwrap();
    assert_eq!((after_gap.2, after_gap.3), (307, 49_120));
    // A late packet keeps its place and does not move the continuation point back.
    let late = relay(&mut rw, &view(0, 9002, 777_320, 5, &f), PCMU, PCMU).unwrap();
    assert_eq!((late.2, late.3), (305, 48_800));
    assert_eq!((rw.next_seq(), rw.next_ts()), (308, 49_280));
}

#[test]
fn a_new_source_ssrc_continues_seamlessly_with_marker() {
    let mut rw = StreamRewriter::new(1, 100);
    let f = [0xFFu8; 160];
    relay(&mut rw, &view(0, 50, 8000, 0xAAAA, &f), PCMU, PCMU).unwrap();
    let last = relay(&mut rw, &view(0, 51, 8160, 0xAAAA, &f), PCMU, PCMU).unwrap();
    assert_eq!((last.2, last.3), (2, 260));
    // Transfer: a different phone with its own random seq/ts.
    let new = relay(
        &mut rw,
        &view(0, 60_000, 4_000_000_000, 0xBBBB, &f),
        PCMU,
        PCMU,
    )
    .unwrap();
    assert_eq!(new.2, 3, "sequence is last + 1");
    assert_eq!(new.3, 420, "timestamp one frame after the last packet");
    assert!(new.1, "marker on the new source's first packet");
    let more = relay(
        &mut rw,
        &view(0, 60_001, 4_000_000_160, 0xBBBB, &f),
        PCMU,
        PCMU,
    )
    .unwrap();
    assert_eq!((more.1, more.2, more.3), (false, 4, 580));
}

#[test]
fn wraps_at_u16_and_u32_boundaries() {
    let mut rw = StreamRewriter::new(0xFFFF, u32::MAX - 100);
    let f = [0xFFu8; 160];
    // The incoming stream wraps too, at a different point.
    let a = relay(&mut rw, &view(0, 0xFFFE, u32::MAX - 200, 9, &f), PCMU, PCMU).unwrap();
    assert_eq!((a.2, a.3), (0xFFFF, u32::MAX - 100));
    let b = relay(&mut rw, &view(0, 0xFFFF, u32::MAX - 40, 9, &f), PCMU, PCMU).unwrap();
    assert_eq!((b.2, b.3), (0, 59));
    let c = relay(&mut rw, &view(0, 0, 119, 9, &f), PCMU, PCMU).unwrap();
    assert_eq!((c.2, c.3), (1, 219));
    assert_eq!((rw.next_seq(), rw.next_ts()), (2, 379));
}

#[test]
fn telephone_events_get_the_destination_te_pt() {
    let mut rw = StreamRewriter::new(500, 16_000);
    let f = [0xFFu8; 160];
    relay(&mut rw, &view(0, 10, 1600, 3, &f), PCMU, PCMA).unwrap();
    // Event '5' starting at the next frame, 400 samples long so far; marked start.
    let ev = [5u8, 0x0A, 0x01, 0x90];
    let mut v = view(101, 11, 1760, 3, &ev);
    v.marker = true;
    let out = relay(&mut rw, &v, PCMU, PCMA).unwrap();
    assert_eq!(
        out.0, 96,
        "PT remapped to the destination's telephone-event"
    );
    assert_eq!(out.5, ev.to_vec(), "event payload forwarded untouched");
    assert_eq!((out.1, out.2, out.3), (true, 501, 16_160));
    // The event's duration moves the continuation point past it.
    assert_eq!(rw.next_ts(), 16_160 + 400);

    // A destination without telephone-event: dropped, nothing changes.
    let before = rw.clone();
    let no_te = LegFormat {
        te_pt: None,
        ..PCMA
    };
    assert_eq!(
        relay(&mut rw, &view(101, 12, 1760, 3, &ev), PCMU, no_te),
        None
    );
    assert_eq!(rw, before);
}

#[test]
fn comfort_noise_and_unknown_payload_types_are_dropped() {
    let mut rw = StreamRewriter::new(1, 1);
    let before = rw.clone();
    for pt in [13u8, 99, 8, 18] {
        assert_eq!(
            relay(&mut rw, &view(pt, 1, 1, 1, &[0x40]), PCMU, PCMA),
            None,
            "PT {pt}"
        );
    }
    assert_eq!(rw, before, "dropped packets do not set the offsets");
    // Too small an output buffer is a drop, not a panic.
    let mut small = [0u8; 20];
    let d = dst(PCMU);
    assert_eq!(
        rw.rewrite(&view(0, 1, 1, 1, &[0; 160]), &PCMU, &d, &mut small),
        None
    );
    assert_eq!(rw, before);
}

/// Writes one regenerated-event packet and parses it.
fn event(
    rw: &mut StreamRewriter,
    code: u8,
    end: bool,
    to: LegFormat,
) -> Option<(u8, bool, u16, u32, u32, Vec<u8>)> {
    let mut out = [0u8; 64];
    let n = rw.write_event(code, end, &dst(to), &mut out)?;
    let v = parse_rtp(&out[..n]).unwrap();
    Some((
        v.payload_type,
        v.marker,
        v.seq,
        v.timestamp,
        v.ssrc,
        v.payload.to_vec(),
    ))
}

#[test]
fn regenerated_events_are_inserted_into_the_stream() {
    let audio = [0xFFu8; 160];
    let mut rw = StreamRewriter::new(500, 8000);
    let a1 = relay(&mut rw, &view(0, 40, 320, 7, &audio), PCMU, PCMA).unwrap();
    assert_eq!((a1.2, a1.3), (500, 8000));
    // '*' (code 10) at the current position: start with marker, three ends.
    let start = event(&mut rw, 10, false, PCMA).unwrap();
    assert_eq!(start.0, 96, "the destination's telephone-event PT");
    assert!(start.1, "marker on the start");
    assert_eq!((start.2, start.3, start.4), (501, 8160, DST_SSRC));
    assert_eq!(start.5, vec![10, 10, 0, 160]);
    for i in 0..3u16 {
        let end = event(&mut rw, 10, true, PCMA).unwrap();
        assert!(!end.1);
        assert_eq!((end.2, end.3), (502 + i, 8160));
        assert_eq!(end.5, vec![10, 0x80 | 10, 0x03, 0x20], "E bit, 800 samples");
    }
    // The next regenerated event gets a timestamp of its own.
    let next = event(&mut rw, 5, false, PCMA).unwrap();
    assert_eq!((next.2, next.3), (505, 8960));
    // Relayed audio continues right after the inserted packets, timestamps untouched.
    let a2 = relay(&mut rw, &view(0, 41, 480, 7, &audio), PCMU, PCMA).unwrap();
    assert_eq!((a2.2, a2.3), (506, 8160));
    // No telephone-event on the destination: nothing written, nothing changed.
    assert!(
        event(
            &mut rw,
            5,
            false,
            LegFormat {
                te_pt: None,
                ..PCMA
            }
        )
        .is_none()
    );
    let a3 = relay(&mut rw, &view(0, 42, 640, 7, &audio), PCMU, PCMA).unwrap();
    assert_eq!(a3.2, 507);
}

#[test]
fn incoming_marker_is_kept() {
    let mut rw = StreamRewriter::new(1, 1);
    let f = [0xFFu8; 160];
    relay(&mut rw, &view(0, 1, 1, 1, &f), PCMU, PCMU).unwrap();
    let mut v = view(0, 2, 161, 1, &f);
    v.marker = true;
    assert!(relay(&mut rw, &v, PCMU, PCMU).unwrap().1);
}

proptest! {
    #[test]
    fn rewrite_never_panics_and_round_trips(
        seq: u16, ts: u32, ssrc: u32, next_seq: u16, next_ts: u32,
        pt in 0u8..128, out_len in 0usize..400,
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut rw = StreamRewriter::new(next_seq, next_ts);
        let mut out = vec![0u8; out_len];
        let v = view(pt, seq, ts, ssrc, &payload);
        if let Some(n) = rw.rewrite(&v, &PCMU, &dst(PCMA), &mut out) {
            let got = parse_rtp(&out[..n]).unwrap();
            prop_assert_eq!(got.seq, next_seq);
            prop_assert_eq!(got.timestamp, next_ts);
            prop_assert_eq!(got.ssrc, DST_SSRC);
            prop_assert_eq!(got.payload.len(), payload.len());
        }
    }
}
