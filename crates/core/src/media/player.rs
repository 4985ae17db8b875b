//! Per-call prompt playback: hands out one 20 ms G.711 frame per pacer tick.
//!
//! The player never stops the stream: with nothing queued it returns comfort silence
//! (the law's digital-silence byte), because many gateways and NATs treat a silent RTP
//! stream as a dead call, and a continuous stream keeps the marker/timestamp logic
//! trivial. It owns no audio: prompts are shared `Arc`s, so a call costs a few words.

use std::collections::VecDeque;
use std::sync::Arc;

use super::g711::Law;
use super::prompt::Prompt;

/// What happened while producing a frame.
#[derive(Debug, Clone)]
#[must_use]
pub enum PlayerEvent {
    /// Nothing noteworthy (a prompt frame or silence).
    None,
    /// This frame was the last of this prompt. Reported exactly once per prompt that
    /// played to its end (not for prompts removed by [`PromptPlayer::stop`]).
    Finished(Arc<Prompt>),
}

/// Events compare by prompt identity (the same `Arc`), not by audio content.
impl PartialEq for PlayerEvent {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PlayerEvent::None, PlayerEvent::None) => true,
            (PlayerEvent::Finished(a), PlayerEvent::Finished(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Plays a queue of prompts, frame by frame.
///
/// The prompt playing is kept apart from the queue behind it: the pacer reads it every
/// 20 ms for each call, and held here it is one pointer away (the shared prompt, warm
/// in the cache when many calls play it) rather than two (the queue's own buffer
/// first, one per call, cold after every 20 ms of other calls' work).
#[derive(Debug, Default, Clone)]
pub struct PromptPlayer {
    /// The prompt playing, if any.
    current: Option<Arc<Prompt>>,
    /// Next frame index in `current`.
    pos: usize,
    /// The prompts after `current`.
    queue: VecDeque<Arc<Prompt>>,
    /// The prompt whose last frame was just returned, kept until the next call.
    finished: Option<Arc<Prompt>>,
}

impl PromptPlayer {
    #[must_use]
    pub fn new() -> PromptPlayer {
        PromptPlayer::default()
    }

    /// Plays `prompt` now, replacing whatever was playing or queued (no `Finished` for
    /// the replaced ones: the caller chose to interrupt them).
    pub fn play(&mut self, prompt: Arc<Prompt>) {
        self.stop();
        self.current = Some(prompt);
    }

    /// Appends `prompt` to play after the current and queued ones ("A then B").
    pub fn enqueue(&mut self, prompt: Arc<Prompt>) {
        // With nothing playing `pos` is already 0 (`stop` and a prompt's end reset it).
        if self.current.is_none() {
            self.current = Some(prompt);
        } else {
            self.queue.push_back(prompt);
        }
    }

    /// Stops playback and clears the queue (barge-in); silence follows.
    pub fn stop(&mut self) {
        self.current = None;
        self.queue.clear();
        self.finished = None;
        self.pos = 0;
    }

    /// True while a prompt is playing or queued.
    #[must_use]
    pub fn is_playing(&self) -> bool {
        self.current.is_some()
    }

    /// The prompt currently playing.
    #[must_use]
    pub fn current(&self) -> Option<&Arc<Prompt>> {
        self.current.as_ref()
    }

    /// Prompts waiting after the current one.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The next 20 ms payload in `law`, and whether a prompt just finished.
    ///
    /// A prompt with no frames at all is reported finished on a silence frame of its
    /// own, so a caller waiting for `Finished` never hangs.
    pub fn next_frame(&mut self, law: Law) -> (&[u8], PlayerEvent) {
        self.finished = None;
        let Some(count) = self.current.as_ref().map(|p| p.frame_count()) else {
            return (law.silence_frame(), PlayerEvent::None);
        };
        let index = self.pos;
        if index + 1 < count {
            self.pos += 1;
            let frame = self.current.as_ref().and_then(|p| p.frame(law, index));
            return (frame.unwrap_or(law.silence_frame()), PlayerEvent::None);
        }
        // The last frame (or an empty prompt): the next prompt moves up, and this one
        // is kept alive in `finished` so the returned slice can borrow from it until
        // the next call.
        self.pos = 0;
        let next = self.queue.pop_front();
        let Some(done) = std::mem::replace(&mut self.current, next) else {
            return (law.silence_frame(), PlayerEvent::None);
        };
        let event = PlayerEvent::Finished(done.clone());
        let held = self.finished.insert(done);
        (held.frame(law, index).unwrap_or(law.silence_frame()), event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(name: &str, frames: usize, level: i16) -> Arc<Prompt> {
        Arc::new(Prompt::from_pcm(name, vec![level; frames * 160]))
    }

    #[test]
    fn silence_when_idle() {
        let mut p = PromptPlayer::new();
        assert!(!p.is_playing());
        for law in [Law::Ulaw, Law::Alaw] {
            let (f, ev) = p.next_frame(law);
            assert_eq!(f.len(), 160);
            assert!(f.iter().all(|&b| b == law.silence_byte()));
            assert_eq!(ev, PlayerEvent::None);
        }
    }

    #[test]
    fn plays_frames_in_order_and_finishes_once() {
        let a = Arc::new(Prompt::from_pcm(
            "a",
            (0..480).map(|i| (i * 60) as i16).collect(),
        ));
        let mut p = PromptPlayer::new();
        p.play(a.clone());
        assert!(p.is_playing());
        for i in 0..3 {
            let (f, ev) = p.next_frame(Law::Alaw);
            assert_eq!(f, a.frame(Law::Alaw, i).unwrap());
            if i < 2 {
                assert_eq!(ev, PlayerEvent::None);
            } else {
                assert!(matches!(ev, PlayerEvent::Finished(ref x) if Arc::ptr_eq(x, &a)));
            }
        }
        assert!(!p.is_playing());
        for _ in 0..5 {
            let (f, ev) = p.next_frame(Law::Alaw);
            assert!(f.iter().all(|&b| b == 0xD5));
            assert_eq!(ev, PlayerEvent::None);
        }
    }

    #[test]
    fn queue_plays_a_then_b_with_one_finish_each() {
        let (a, b) = (prompt("a", 2, 1000), prompt("b", 1, -1000));
        let mut p = PromptPlayer::new();
        p.play(a.clone());
        p.enqueue(b.clone());
        assert_eq!(p.queued(), 1);
        let mut log = Vec::new();
        for _ in 0..5 {
            let (f, ev) = p.next_frame(Law::Ulaw);
            let byte = f[0];
            log.push((
                byte,
                match ev {
                    PlayerEvent::None => String::new(),
                    PlayerEvent::Finished(x) => x.name.clone(),
                },
            ));
        }
        let (ua, ub) = (
            Law::Ulaw.encode_sample(1000),
            Law::Ulaw.encode_sample(-1000),
        );
        assert_eq!(
            log,
            vec![
                (ua, String::new()),
                (ua, "a".into()),
                (ub, "b".into()),
                (0xFF, String::new()),
                (0xFF, String::new()),
            ]
        );
    }

    #[test]
    fn stop_and_replace_report_nothing() {
        let mut p = PromptPlayer::new();
        p.play(prompt("a", 3, 1000));
        let _ = p.next_frame(Law::Ulaw);
        p.play(prompt("b", 1, 500));
        assert_eq!(p.current().unwrap().name, "b");
        let (_, ev) = p.next_frame(Law::Ulaw);
        assert!(matches!(ev, PlayerEvent::Finished(ref x) if x.name == "b"));
        p.play(prompt("c", 3, 1000));
        let _ = p.next_frame(Law::Ulaw);
        p.stop();
        assert!(!p.is_playing());
        for _ in 0..4 {
            assert_eq!(p.next_frame(Law::Ulaw).1, PlayerEvent::None);
        }
    }

    #[test]
    fn empty_prompt_still_finishes() {
        let mut p = PromptPlayer::new();
        p.play(prompt("empty", 0, 0));
        let (f, ev) = p.next_frame(Law::Ulaw);
        assert!(f.iter().all(|&b| b == 0xFF));
        assert!(matches!(ev, PlayerEvent::Finished(ref x) if x.name == "empty"));
        assert_eq!(p.next_frame(Law::Ulaw).1, PlayerEvent::None);
    }
}
