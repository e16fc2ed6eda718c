//! Test-tone helpers: generate a sine, and measure how much of a signal's energy sits at one frequency
//! (the Goertzel algorithm). Tests use them to prove that decoded audio is the tone that was served;
//! they are cheap enough to live in the library so the audio engine's tests can reuse them.

use std::f32::consts::TAU;

/// A mono sine of `amplitude` at `freq` Hz.
pub fn sine(freq: f32, sample_rate: u32, seconds: f32, amplitude: f32) -> Vec<f32> {
    let n = (seconds * sample_rate as f32) as usize;
    (0..n)
        .map(|i| amplitude * (TAU * freq * i as f32 / sample_rate as f32).sin())
        .collect()
}

/// Averages interleaved channels into mono.
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    let channels = channels.max(1);
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// Fraction (0..=1, about 1 for a pure tone) of the signal's energy at `freq`, by Goertzel over all samples.
pub fn tone_energy_ratio(mono: &[f32], sample_rate: u32, freq: f32) -> f32 {
    let n = mono.len();
    if n == 0 {
        return 0.0;
    }
    let omega = TAU * freq / sample_rate as f32;
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0f64;
    for &x in mono {
        let s0 = f64::from(x) + f64::from(coeff) * s1 - s2;
        s2 = s1;
        s1 = s0;
        energy += f64::from(x) * f64::from(x);
    }
    let power = s1 * s1 + s2 * s2 - f64::from(coeff) * s1 * s2;
    if energy <= f64::EPSILON {
        return 0.0;
    }
    (power / (energy * n as f64 / 2.0)) as f32
}

/// The candidate frequency holding the most energy, with its ratio.
pub fn strongest(mono: &[f32], sample_rate: u32, candidates: &[f32]) -> Option<(f32, f32)> {
    candidates
        .iter()
        .map(|&f| (f, tone_energy_ratio(mono, sample_rate, f)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Root-mean-square level (0 for silence).
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pure_tone_is_found_and_others_are_not() {
        let tone = sine(440.0, 48_000, 0.5, 0.5);
        assert!(tone_energy_ratio(&tone, 48_000, 440.0) > 0.9);
        assert!(tone_energy_ratio(&tone, 48_000, 880.0) < 0.01);
        assert_eq!(
            strongest(&tone, 48_000, &[330.0, 440.0, 660.0]).map(|(f, _)| f),
            Some(440.0)
        );
        assert!((rms(&tone) - 0.5 / 2f32.sqrt()).abs() < 0.01);
    }

    #[test]
    fn silence_and_empty_have_no_tone() {
        assert!(tone_energy_ratio(&[], 48_000, 440.0).abs() < f32::EPSILON);
        assert!(tone_energy_ratio(&[0.0; 480], 48_000, 440.0).abs() < f32::EPSILON);
    }

    #[test]
    fn downmix_averages_frames() {
        assert_eq!(downmix(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
    }
}
