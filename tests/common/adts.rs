//! ADTS splitting shared by the HLS tests (`#[path]`-included: not every test crate wants `common`).

/// Splits an ADTS stream into segments of exactly `frames` frames each. A short tail is dropped: a live
/// packager's segments all last the target duration.
pub fn adts_segments(aac: &[u8], frames: usize) -> Vec<Vec<u8>> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at + 7 <= aac.len() {
        assert_eq!(&aac[at..at + 2], &[0xFF, 0xF1], "not ADTS at {at}");
        starts.push(at);
        at += (usize::from(aac[at + 3] & 3) << 11)
            | (usize::from(aac[at + 4]) << 3)
            | usize::from(aac[at + 5] >> 5);
    }
    starts.push(aac.len());
    let last = starts.len() - 1;
    (0..last)
        .step_by(frames)
        .filter(|i| i + frames <= last)
        .map(|i| aac[starts[i]..starts[i + frames]].to_vec())
        .collect()
}
