//! Byte-level mutation, in the manner of AFL's havoc stage: a stack of random edits (bit flips,
//! interesting integers, inserted or deleted runs, duplicated blocks, dictionary tokens, splices
//! with another seed, truncation) on a copy of a seed. Cheap, deterministic, format-agnostic;
//! the dictionary and each target's generator supply the format knowledge.

use crate::rng::Rng;

/// Values that sit on boundaries parsers get wrong (sign, width, zero, all ones).
const INTERESTING_8: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'\n', b'\r', b'"', b',', b' ', b'\t', b'%', b'#', b'\\'];
const INTERESTING_32: &[u32] =
    &[0, 1, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 4096, 65536];

/// Applies 1 to 16 edits to `data` (in place), never letting it grow past `max_len`.
pub fn mutate(data: &mut Vec<u8>, rng: &mut Rng, dict: &[&[u8]], other: &[u8], max_len: usize) {
    let edits = 1 << rng.below(5);
    for _ in 0..edits {
        edit(data, rng, dict, other, max_len);
    }
    data.truncate(max_len);
}

fn edit(data: &mut Vec<u8>, rng: &mut Rng, dict: &[&[u8]], other: &[u8], max_len: usize) {
    let len = data.len();
    match rng.below(12) {
        // Flip one bit.
        0 if len > 0 => {
            let at = rng.below(len);
            data[at] ^= 1 << rng.below(8);
        }
        // A random byte.
        1 if len > 0 => {
            let at = rng.below(len);
            data[at] = rng.next_u64() as u8;
        }
        // An interesting byte.
        2 if len > 0 => {
            let at = rng.below(len);
            data[at] = *rng.pick(INTERESTING_8);
        }
        // An interesting 16/32-bit integer, either endianness (sizes, offsets, counts).
        3 if len >= 4 => {
            let at = rng.below(len - 3);
            let v = *rng.pick(INTERESTING_32);
            let bytes = if rng.one_in(2) { v.to_le_bytes() } else { v.to_be_bytes() };
            let width = if rng.one_in(2) { 2 } else { 4 };
            data[at..at + width].copy_from_slice(&bytes[..width]);
        }
        // Add or subtract a small number from a byte (counters, lengths).
        4 if len > 0 => {
            let at = rng.below(len);
            let delta = (rng.below(35) as u8).wrapping_sub(17);
            data[at] = data[at].wrapping_add(delta);
        }
        // Delete a run.
        5 if len > 1 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(64));
            data.drain(at..at + n);
        }
        // Duplicate a block somewhere else (repeated rows, repeated headers).
        6 if len > 1 => {
            let from = rng.below(len);
            let n = 1 + rng.below((len - from).min(256));
            let block = data[from..from + n].to_vec();
            let at = rng.below(len + 1);
            insert(data, at, &block, max_len);
        }
        // Insert a dictionary token.
        7 | 8 if !dict.is_empty() => {
            let token = *rng.pick(dict);
            let at = rng.below(len + 1);
            insert(data, at, token, max_len);
        }
        // Overwrite with a dictionary token.
        9 if !dict.is_empty() && len > 0 => {
            let token = *rng.pick(dict);
            let at = rng.below(len);
            let n = token.len().min(len - at);
            data[at..at + n].copy_from_slice(&token[..n]);
        }
        // Splice: the head of this input, the tail of another seed.
        10 if !other.is_empty() && len > 0 => {
            let cut = rng.below(len);
            let from = rng.below(other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..other.len().min(from + max_len.saturating_sub(cut))]);
        }
        // Truncate (a file cut by a full disk or an interrupted copy).
        11 if len > 0 => {
            data.truncate(rng.below(len));
        }
        // Insert random bytes.
        _ => {
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let at = rng.below(len + 1);
            insert(data, at, &bytes, max_len);
        }
    }
}

fn insert(data: &mut Vec<u8>, at: usize, bytes: &[u8], max_len: usize) {
    if data.len() + bytes.len() > max_len {
        return;
    }
    data.splice(at..at, bytes.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_is_deterministic_and_bounded() {
        let seed = b"#Fields: date time cs-uri-stem\n2021-03-03 04:00:00 /owa/\n".to_vec();
        let run = || {
            let mut rng = Rng::new(7);
            (0..500)
                .map(|_| {
                    let mut d = seed.clone();
                    mutate(&mut d, &mut rng, &[b"#Fields: ", b","], b"other seed bytes", 100);
                    d
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        assert!(a.iter().all(|d| d.len() <= 100));
        assert!(a.iter().filter(|d| **d != seed).count() > 450, "mutations change the input");
    }
}
