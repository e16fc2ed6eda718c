//! Analysis of what the bot sent: tone energy (Goertzel), loudness (RMS, dBFS), silence, dominant frequency.
//!
//! Everything works on mono `f32` PCM at 48 kHz, the rate Discord voice uses.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// Discord voice's sample rate.
pub const SAMPLE_RATE: f32 = 48_000.0;
/// Below this level a signal counts as silence (Opus noise floor is far lower; speech is far higher).
pub const SILENCE_DBFS: f32 = -50.0;

/// Power of `freq` in `samples` (Goertzel), unnormalised.
pub fn goertzel_power(samples: &[f32], freq: f32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * f64::from(freq) / f64::from(SAMPLE_RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Share of the signal's energy at `freq`: about 1.0 for a pure tone at that frequency, about 0 for others.
pub fn tone_ratio(samples: &[f32], freq: f32) -> f64 {
    let energy: f64 = samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    if energy <= f64::EPSILON || samples.is_empty() {
        return 0.0;
    }
    goertzel_power(samples, freq) * 2.0 / samples.len() as f64 / energy
}

pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    (sum / samples.len() as f64).sqrt() as f32
}

/// RMS in dB relative to full scale; `-inf` for digital silence.
pub fn dbfs(samples: &[f32]) -> f32 {
    20.0 * rms(samples).log10()
}

/// Quieter than [`SILENCE_DBFS`] (an empty window is silent: nothing was heard).
pub fn is_silent(samples: &[f32]) -> bool {
    samples.is_empty() || dbfs(samples) < SILENCE_DBFS
}

/// The strongest frequency in `samples` (Hann window, FFT, parabolic peak interpolation), within ~1 Hz for windows
/// of 0.5 s or more; `None` when silent.
pub fn dominant_frequency(samples: &[f32]) -> Option<f32> {
    if is_silent(samples) || samples.len() < 64 {
        return None;
    }
    let n = samples.len();
    let mut buf: Vec<Complex<f32>> = samples
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (n - 1) as f32).cos();
            Complex::new(x * w, 0.0)
        })
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let mags: Vec<f32> = buf[..n / 2].iter().map(|c| c.norm()).collect();
    let (peak, _) = mags
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    // Parabolic interpolation on log magnitudes around the peak bin.
    let offset = if peak + 1 < mags.len() {
        let (a, b, c) = (
            mags[peak - 1].max(1e-12).ln(),
            mags[peak].max(1e-12).ln(),
            mags[peak + 1].max(1e-12).ln(),
        );
        let denom = a - 2.0 * b + c;
        if denom.abs() > f32::EPSILON {
            0.5 * (a - c) / denom
        } else {
            0.0
        }
    } else {
        0.0
    };
    Some((peak as f32 + offset) * SAMPLE_RATE / n as f32)
}

/// A sine at `freq` with `amplitude`, `seconds` long, mono 48 kHz: for tests and tone sources.
pub fn sine(freq: f32, amplitude: f32, seconds: f32) -> Vec<f32> {
    let n = (seconds * SAMPLE_RATE) as usize;
    (0..n)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / SAMPLE_RATE).sin())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goertzel_separates_440_from_880() {
        let s = sine(440.0, 0.5, 0.5);
        assert!(tone_ratio(&s, 440.0) > 0.99, "{}", tone_ratio(&s, 440.0));
        assert!(tone_ratio(&s, 880.0) < 0.001, "{}", tone_ratio(&s, 880.0));
    }

    #[test]
    fn dominant_frequency_is_within_a_hertz() {
        for f in [110.0, 440.0, 997.0, 3000.0] {
            let got = dominant_frequency(&sine(f, 0.3, 0.5)).expect("not silent");
            assert!((got - f).abs() < 1.0, "{f} Hz measured as {got}");
        }
    }

    #[test]
    fn silence_and_loudness() {
        assert!(is_silent(&[]));
        assert!(is_silent(&vec![0.0; 4800]));
        assert!(is_silent(&sine(440.0, 0.001, 0.1)), "-63 dBFS is silence");
        assert!(!is_silent(&sine(440.0, 0.1, 0.1)));
        assert!(
            (dbfs(&sine(440.0, 1.0, 0.5)) + 3.01).abs() < 0.05,
            "a full-scale sine is -3 dBFS"
        );
        assert_eq!(dominant_frequency(&vec![0.0; 4800]), None);
    }
}
