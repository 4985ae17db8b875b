//! Media: the pure (sans-IO) audio and RTP library of the IVR and the bridge.
//!
//! G.711 only, 8 kHz, 20 ms frames of 160 samples (= 160 bytes). Everything expensive
//! happens at load time: prompts are decoded, resampled and encoded into both laws once
//! ([`prompt`]), so a playing call costs a slice lookup per frame ([`player`]), a
//! 12-byte header ([`rtp`]) and a deadline computation ([`pacer`]).
//!
//! Digits come from three sources, all normalised to `char` (`0-9 * # A-D`) for the
//! [`collector`]: RFC 4733 telephone-events ([`rfc4733`]), SIP INFO bodies ([`info`]),
//! and, opt-in, tones in the audio itself ([`inband`]).
//!
//! A bridged call relays RTP between its two legs: [`relay`] rewrites each packet into
//! the outgoing leg's own stream (SSRC, sequence, timestamp, payload type), copying or
//! transcoding the payload without decoding it. A manager's telephone-events that may
//! be a feature code are held back from the caller by [`feature_gate`].
//! A recorded conversation puts both directions side by side in [`conversation`].

pub mod codec;
pub mod collector;
pub mod command;
pub mod conversation;
pub mod feature_gate;
pub mod g711;
pub mod inband;
pub mod info;
pub mod latch;
pub mod listing;
pub mod pacer;
pub mod player;
pub mod ports;
pub mod prompt;
pub mod recorder;
pub mod relay;
pub mod resample;
pub mod rfc4733;
pub mod rtp;
pub mod session;
pub mod srtp;

pub use collector::{Collected, CollectorConfig, DigitCollector, EndedBy};
pub use command::{CallKey, DigitSource, MediaCommand, MediaEvent, MediaParams, RecordEnd};
pub use g711::{FRAME_SAMPLES, Law, SAMPLE_RATE};
pub use inband::InbandDetector;
pub use info::parse_info_dtmf;
pub use latch::{LatchConfig, LatchDecision, LatchMode};
pub use pacer::{Pacer, PacerStep};
pub use player::{PlayerEvent, PromptPlayer};
pub use prompt::{Prompt, PromptError, PromptSet};
pub use relay::{Destination, LegFormat, PayloadKind, StreamRewriter};
pub use rfc4733::{DtmfReceiver, TelephoneEvent};
pub use rtp::{RtpError, RtpSender, RtpView, parse_rtp};
