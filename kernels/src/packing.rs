//! Packs prepared texts into chunks of GPU work. Each text is cut into
//! *pieces* of about [`PIECE_BYTES`] that each own a contiguous run of shingle
//! windows: a piece spans units `u_j ..= u_{j+1} + n − 2`, so it holds exactly
//! the windows that start at `u_j .. u_{j+1}`, and the pieces of a text hold
//! every window exactly once. One GPU invocation handles one piece, which
//! balances the load across long and short texts and bounds the work of each
//! invocation (software drivers such as lavapipe cap the loop iterations of
//! one invocation at 65 535). Results of a text's pieces are combined on the
//! host (minimum for MinHash, sum for decontamination hits).
//!
//! A text whose pieces cannot stay within [`MAX_PIECE_BYTES`] (a single huge
//! word, or fewer than `n` units over many bytes) is handed back for the CPU
//! implementation, as is any text larger than the byte budget of a chunk.

use crate::shingle::{Shingle, is_separator};

/// Target size of one piece.
pub const PIECE_BYTES: usize = 1024;
/// Largest piece sent to the GPU.
pub const MAX_PIECE_BYTES: usize = 8 * 1024;

/// One chunk of GPU work.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// `[offset, length]` of each piece in `bytes`.
    pub spans: Vec<[u32; 2]>,
    /// The text each piece belongs to.
    pub owners: Vec<usize>,
    /// The texts back to back.
    pub bytes: Vec<u8>,
}

/// The plan: GPU chunks, and texts for the CPU.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Chunks, each within the byte and piece limits.
    pub chunks: Vec<Chunk>,
    /// Texts the CPU must handle.
    pub on_cpu: Vec<usize>,
}

/// Byte offsets `[start, end)` of the units of a prepared text.
fn units(text: &[u8], shingle: Shingle) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &b) in text.iter().enumerate() {
        let boundary = if shingle.is_chars() { b & 0xC0 != 0x80 } else { is_separator(b) };
        if boundary && let Some(s) = start.take() {
            out.push((s, i));
        }
        if start.is_none() && (shingle.is_chars() || !is_separator(b)) {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// The pieces of one prepared text as `[start, end)` byte ranges, or `None`
/// when it must go to the CPU.
pub fn pieces(text: &[u8], shingle: Shingle) -> Option<Vec<(usize, usize)>> {
    if text.len() <= PIECE_BYTES {
        return Some(vec![(0, text.len())]);
    }
    let units = units(text, shingle);
    let n = shingle.n().max(1);
    if units.len() < n {
        // One short shingle over the whole text: only if it is small enough.
        return (text.len() <= MAX_PIECE_BYTES).then(|| vec![(0, text.len())]);
    }
    let windows = units.len() + 1 - n;
    let mut out = Vec::new();
    let mut first = 0;
    while first < windows {
        let target = units[first].0 + PIECE_BYTES;
        let next = units[first..windows].iter().position(|u| u.0 >= target).map_or(windows, |p| first + p.max(1));
        let (start, end) = (units[first].0, units[next - 1 + n - 1].1);
        if end - start > MAX_PIECE_BYTES {
            return None;
        }
        out.push((start, end));
        first = next;
    }
    Some(out)
}

/// Cuts `texts` into pieces and packs them into chunks of at most
/// `max_bytes` bytes and `max_pieces` pieces.
pub fn plan<T: AsRef<[u8]>>(texts: &[T], shingle: Shingle, max_bytes: u64, max_pieces: usize) -> Plan {
    let max_bytes = max_bytes.min(u64::from(u32::MAX)) as usize;
    let max_pieces = max_pieces.max(1);
    let mut plan = Plan::default();
    let mut chunk = Chunk::default();
    for (i, text) in texts.iter().enumerate() {
        let text = text.as_ref();
        let Some(cuts) = pieces(text, shingle).filter(|c| text.len() <= max_bytes && c.len() <= max_pieces) else {
            plan.on_cpu.push(i);
            continue;
        };
        if chunk.bytes.len() + text.len() > max_bytes || chunk.spans.len() + cuts.len() > max_pieces {
            plan.chunks.push(std::mem::take(&mut chunk));
        }
        let base = chunk.bytes.len();
        for (start, end) in cuts {
            chunk.spans.push([(base + start) as u32, (end - start) as u32]);
            chunk.owners.push(i);
        }
        chunk.bytes.extend_from_slice(text);
    }
    if !chunk.spans.is_empty() {
        plan.chunks.push(chunk);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shingle::scan;

    fn windows_of(text: &[u8], shingle: Shingle) -> Vec<u64> {
        let mut v = Vec::new();
        scan(text, shingle, 1, |h| v.push(h));
        v
    }

    #[test]
    fn pieces_hold_every_window_exactly_once() {
        for shingle in [Shingle::Words(1), Shingle::Words(5), Shingle::Words(13), Shingle::Chars(24)] {
            let text: String = (0..3000).map(|i| format!("w{}{} ", i % 97, "x".repeat(i % 13))).collect();
            let cuts = pieces(text.as_bytes(), shingle).expect("test setup");
            assert!(cuts.len() > 10);
            assert!(cuts.iter().all(|(s, e)| e - s <= MAX_PIECE_BYTES));
            let joined: Vec<u64> =
                cuts.iter().flat_map(|&(s, e)| windows_of(&text.as_bytes()[s..e], shingle)).collect();
            assert_eq!(joined, windows_of(text.as_bytes(), shingle), "{shingle}");
        }
    }

    #[test]
    fn unsplittable_and_oversized_texts_go_to_the_cpu() {
        let huge_word = "x".repeat(MAX_PIECE_BYTES + 1);
        assert_eq!(pieces(huge_word.as_bytes(), Shingle::Words(5)), None);
        let plan = plan(&["small", huge_word.as_str(), "also small"], Shingle::Words(5), 1 << 20, 100);
        assert_eq!(plan.on_cpu, vec![1]);
        assert_eq!(plan.chunks.len(), 1);
        assert_eq!(plan.chunks[0].owners, vec![0, 2]);
        assert_eq!(plan.chunks[0].spans, vec![[0, 5], [5, 10]]);
    }

    #[test]
    fn chunks_respect_the_byte_and_piece_limits() {
        let texts = ["aaaa", "bb", "cc", "d"];
        let plan = plan(&texts, Shingle::Words(5), 6, 2);
        let sizes: Vec<usize> = plan.chunks.iter().map(|c| c.spans.len()).collect();
        assert_eq!(sizes, vec![2, 2]);
        assert!(plan.chunks.iter().all(|c| c.bytes.len() <= 6));
    }
}
