//! Conversion of decoded PCM (any rate, any channel count) to the hub's 48 kHz interleaved stereo.
//! Uses rubato's FFT resampler (the one songbird uses), rebuilt whenever the input format changes (a
//! reconnect may land on a fallback URL with another rate or channel layout).

use rubato::{FftFixedIn, Resampler as _};

use super::encode::SAMPLE_RATE;

/// Input frames per resampler call: ~21 ms at 48 kHz, small enough to keep latency low.
const CHUNK: usize = 1_024;

/// Why a chunk could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("cannot resample from {rate} Hz: {reason}")]
    Setup { rate: u32, reason: String },
    #[error("resampling failed: {0}")]
    Process(String),
    #[error("a PCM chunk with {0} channels cannot be played (need 1 or more)")]
    NoChannels(usize),
}

/// Streaming converter to 48 kHz stereo.
pub struct StereoResampler {
    rate: u32,
    inner: Option<FftFixedIn<f32>>,
    /// Planar stereo input waiting for a full chunk.
    pending: [Vec<f32>; 2],
    out: [Vec<f32>; 2],
}

impl std::fmt::Debug for StereoResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StereoResampler")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl Default for StereoResampler {
    fn default() -> Self {
        Self {
            rate: SAMPLE_RATE,
            inner: None,
            pending: [Vec::new(), Vec::new()],
            out: [Vec::new(), Vec::new()],
        }
    }
}

impl StereoResampler {
    /// Converts interleaved `samples` with `channels` channels at `rate` Hz and appends interleaved 48 kHz
    /// stereo to `sink`. Mono is duplicated; more than two channels keep the front pair.
    pub fn push(
        &mut self,
        samples: &[f32],
        rate: u32,
        channels: usize,
        sink: &mut Vec<f32>,
    ) -> Result<(), ResampleError> {
        if channels == 0 {
            return Err(ResampleError::NoChannels(channels));
        }
        if rate != self.rate {
            self.reset(rate)?;
        }
        // Mono is doubled; channels beyond the first two are dropped.
        let frames = samples.chunks_exact(channels).filter_map(|f| {
            let (&l, rest) = f.split_first()?;
            Some((l, rest.first().copied().unwrap_or(l)))
        });
        let Some(resampler) = self.inner.as_mut() else {
            sink.reserve(samples.len() / channels * 2);
            for (l, r) in frames {
                sink.extend_from_slice(&[l, r]);
            }
            return Ok(());
        };
        for (l, r) in frames {
            self.pending[0].push(l);
            self.pending[1].push(r);
        }
        while self.pending[0].len() >= resampler.input_frames_next() {
            let need = resampler.input_frames_next();
            let max_out = resampler.output_frames_max();
            for ch in &mut self.out {
                ch.resize(max_out, 0.0);
            }
            let [left, right] = &self.pending;
            let (Some(left), Some(right)) = (left.get(..need), right.get(..need)) else {
                break;
            };
            let (used, produced) = resampler
                .process_into_buffer(&[left, right], &mut self.out, None)
                .map_err(|e| ResampleError::Process(e.to_string()))?;
            for ch in &mut self.pending {
                ch.drain(..used);
            }
            sink.reserve(produced * 2);
            let [left, right] = &self.out;
            for (&l, &r) in left.iter().zip(right).take(produced) {
                sink.extend_from_slice(&[l, r]);
            }
        }
        Ok(())
    }

    /// Forgets buffered input and prepares for `rate` (called on format change and on reconnect).
    pub fn reset(&mut self, rate: u32) -> Result<(), ResampleError> {
        for ch in &mut self.pending {
            ch.clear();
        }
        self.rate = rate;
        self.inner = if rate == SAMPLE_RATE {
            None
        } else {
            Some(
                FftFixedIn::new(rate as usize, SAMPLE_RATE as usize, CHUNK, 2, 2).map_err(|e| {
                    ResampleError::Setup {
                        rate,
                        reason: e.to_string(),
                    }
                })?,
            )
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Dominant-frequency estimate by counting zero crossings of the left channel.
    fn zero_crossing_freq(stereo: &[f32]) -> f32 {
        let left: Vec<f32> = stereo.iter().step_by(2).copied().collect();
        let crossings = left
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        crossings as f32 / 2.0 / (left.len() as f32 / SAMPLE_RATE as f32)
    }

    #[rstest]
    #[case(44_100, 1)]
    #[case(44_100, 2)]
    #[case(22_050, 2)]
    #[case(48_000, 1)]
    #[case(32_000, 6)]
    fn output_is_48k_stereo_with_the_same_pitch(#[case] rate: u32, #[case] channels: usize) {
        let secs = 2;
        let input: Vec<f32> = (0..rate as usize * secs)
            .flat_map(|i| {
                let v = (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5;
                std::iter::repeat_n(v, channels)
            })
            .collect();
        let mut r = StereoResampler::default();
        let mut out = Vec::new();
        // Feed in uneven pieces, like a decoder does.
        for piece in input.chunks(channels * 777) {
            r.push(piece, rate, channels, &mut out).expect("resample");
        }
        let got_secs = out.len() as f32 / 2.0 / SAMPLE_RATE as f32;
        assert!((got_secs - secs as f32).abs() < 0.1, "{got_secs} s");
        let f = zero_crossing_freq(&out[4_800..]);
        assert!((f - 440.0).abs() < 5.0, "{f} Hz");
    }
}
