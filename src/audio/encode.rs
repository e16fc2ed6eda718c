//! The station's single Opus encoder: 48 kHz stereo, 20 ms frames, with the limiter (gain + libopus soft
//! clip) applied once here, because songbird's passthrough path never soft-clips.

use bytes::Bytes;
use opus2::{Application, Bitrate, Channels, Encoder, SoftClip};

/// Output sample rate of every hub.
pub const SAMPLE_RATE: u32 = 48_000;
/// Output channels of every hub.
pub const CHANNELS: usize = 2;
/// Samples per channel in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 960;
/// Interleaved samples in one 20 ms stereo frame.
pub const FRAME_LEN: usize = FRAME_SAMPLES * CHANNELS;
/// Largest Opus payload we accept: well below songbird's 1460-byte voice packet once RTP/crypto are added.
const MAX_PACKET: usize = 1_275;

/// Why the encoder could not be built or a frame not encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("could not create the Opus encoder (48 kHz stereo): {0}")]
    Create(#[source] opus2::Error),
    #[error("could not configure the Opus encoder ({what}): {source}")]
    Configure {
        what: &'static str,
        #[source]
        source: opus2::Error,
    },
    #[error("Opus encode of a 20 ms frame failed: {0}")]
    Encode(#[source] opus2::Error),
    #[error("a 20 ms stereo frame has {FRAME_LEN} samples, got {0}")]
    FrameLength(usize),
}

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Target bitrate in bit/s (Discord caps most channels at 64–96 kb/s; boosted ones up to 384).
    pub bitrate: i32,
    /// Linear gain in percent applied before the soft clip (100 = untouched).
    pub gain_percent: u16,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            bitrate: 96_000,
            gain_percent: 100,
        }
    }
}

/// One Opus encoder plus its limiter state.
pub struct OpusEncoder {
    encoder: Encoder,
    clip: SoftClip,
    gain: f32,
    scratch: Vec<f32>,
    out: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("gain", &self.gain)
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    pub fn new(config: EncoderConfig) -> Result<Self, EncodeError> {
        let mut encoder = Encoder::new(SAMPLE_RATE, Channels::Stereo, Application::Audio)
            .map_err(EncodeError::Create)?;
        encoder
            .set_bitrate(Bitrate::Bits(config.bitrate))
            .map_err(|source| EncodeError::Configure {
                what: "bitrate",
                source,
            })?;
        Ok(Self {
            encoder,
            clip: SoftClip::new(Channels::Stereo),
            gain: f32::from(config.gain_percent) / 100.0,
            scratch: vec![0.0; FRAME_LEN],
            out: vec![0; MAX_PACKET],
        })
    }

    /// Encodes one 20 ms interleaved stereo frame (`FRAME_LEN` samples in −1..1).
    pub fn encode(&mut self, pcm: &[f32]) -> Result<Bytes, EncodeError> {
        if pcm.len() != FRAME_LEN {
            return Err(EncodeError::FrameLength(pcm.len()));
        }
        self.scratch.copy_from_slice(pcm);
        if (self.gain - 1.0).abs() > f32::EPSILON {
            for s in &mut self.scratch {
                *s *= self.gain;
            }
        }
        // Soft clip keeps hot masters and >100 % gain from hard-clipping; it is a no-op inside −1..1.
        self.clip.apply(&mut self.scratch);
        let n = self
            .encoder
            .encode_float(&self.scratch, &mut self.out)
            .map_err(EncodeError::Encode)?;
        Ok(Bytes::copy_from_slice(
            self.out.get(..n).unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, frames: usize) -> Vec<f32> {
        (0..frames * FRAME_SAMPLES)
            .flat_map(|i| {
                let v = (i as f32 * freq * std::f32::consts::TAU / SAMPLE_RATE as f32).sin() * 0.5;
                [v, v]
            })
            .collect()
    }

    #[test]
    fn encodes_and_decodes_back_to_a_similar_signal() {
        let mut enc = OpusEncoder::new(EncoderConfig::default()).expect("encoder");
        let mut dec = opus2::Decoder::new(SAMPLE_RATE, Channels::Stereo).expect("decoder");
        let pcm = sine(1_000.0, 50);
        let mut energy = 0.0f64;
        let mut out = vec![0.0f32; FRAME_LEN];
        for (i, frame) in pcm.chunks(FRAME_LEN).enumerate() {
            let packet = enc.encode(frame).expect("encode");
            assert!(packet.len() <= MAX_PACKET && !packet.is_empty());
            let n = dec.decode_float(&packet, &mut out, false).expect("decode");
            assert_eq!(n, FRAME_SAMPLES);
            if i > 10 {
                energy += out
                    .iter()
                    .map(|s| f64::from(*s) * f64::from(*s))
                    .sum::<f64>();
            }
        }
        let rms = (energy / (39.0 * FRAME_LEN as f64)).sqrt();
        // A 0.5-amplitude sine has RMS ≈ 0.354.
        assert!((0.3..0.4).contains(&rms), "rms {rms}");
    }

    #[test]
    fn rejects_a_frame_of_the_wrong_length() {
        let mut enc = OpusEncoder::new(EncoderConfig::default()).expect("encoder");
        assert!(matches!(
            enc.encode(&[0.0; 100]),
            Err(EncodeError::FrameLength(100))
        ));
    }

    #[test]
    fn gain_and_soft_clip_keep_samples_bounded() {
        let mut enc = OpusEncoder::new(EncoderConfig {
            gain_percent: 400,
            ..EncoderConfig::default()
        })
        .expect("encoder");
        let pcm = sine(440.0, 1);
        enc.encode(&pcm).expect("encode");
        assert!(enc.scratch.iter().all(|s| s.abs() <= 1.0));
    }
}
