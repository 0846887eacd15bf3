//! Test helpers: every way a byte stream can arrive in pieces, for the incremental parsers and
//! encoders, which must give the same result however their input is cut.

use super::lines::{Line, LineBuffer};

/// Every split of `input` into non-empty pieces with at most `max_cuts` cuts: all 2^(n-1)
/// splits of an n-octet input when `max_cuts >= n - 1`. The empty input arrives as no piece.
pub fn every_split(input: &[u8], max_cuts: usize) -> impl Iterator<Item = Vec<&[u8]>> {
    let mut cut_sets = vec![vec![]];
    cuts_after(&mut cut_sets, &mut Vec::new(), 1, input.len(), max_cuts);
    cut_sets.into_iter().map(move |cuts| {
        let bounds: Vec<usize> = [0].into_iter().chain(cuts).chain([input.len()]).collect();
        bounds
            .windows(2)
            .map(|w| &input[w[0]..w[1]])
            .filter(|piece| !piece.is_empty())
            .collect()
    })
}

/// Adds to `sets` every extension of `chosen` by cut points from `from` to `len - 1`.
fn cuts_after(
    sets: &mut Vec<Vec<usize>>,
    chosen: &mut Vec<usize>,
    from: usize,
    len: usize,
    max_cuts: usize,
) {
    if chosen.len() == max_cuts {
        return;
    }
    for cut in from..len {
        chosen.push(cut);
        sets.push(chosen.clone());
        cuts_after(sets, chosen, cut + 1, len, max_cuts);
        chosen.pop();
    }
}

/// The lines a [`LineBuffer`] bounded to `max` gives for `pieces` arriving in order, `None`
/// for a line too long.
pub fn lines_of<P: AsRef<[u8]>>(pieces: &[P], max: usize) -> Vec<Option<Vec<u8>>> {
    let mut buffer = LineBuffer::new(max);
    let mut lines = Vec::new();
    for piece in pieces {
        buffer.extend(piece.as_ref());
        while let Some(line) = buffer.next_line() {
            lines.push(match line {
                Line::Complete(bytes) => Some(bytes.to_vec()),
                Line::TooLong => None,
            });
        }
    }
    lines
}

/// Every string of up to `len` symbols over `alphabet`, the empty one included.
pub fn all_strings(alphabet: &[u8], len: usize) -> Vec<Vec<u8>> {
    let mut all = vec![vec![]];
    let mut layer = vec![vec![]];
    for _ in 0..len {
        layer = layer
            .iter()
            .flat_map(|s: &Vec<u8>| alphabet.iter().map(move |&c| [s.as_slice(), &[c]].concat()))
            .collect();
        all.extend(layer.iter().cloned());
    }
    all
}

#[test]
fn every_split_is_every_composition() {
    let splits: Vec<Vec<&[u8]>> = every_split(b"abc", usize::MAX).collect();
    let expected: [&[&[u8]]; 4] = [
        &[b"abc"],
        &[b"a", b"bc"],
        &[b"a", b"b", b"c"],
        &[b"ab", b"c"],
    ];
    assert_eq!(splits, expected);
    assert_eq!(
        every_split(b"", usize::MAX).collect::<Vec<_>>(),
        [Vec::<&[u8]>::new()]
    );
    assert_eq!(every_split(&[0; 12], usize::MAX).count(), 1 << 11);
    assert_eq!(every_split(&[0; 12], 2).count(), 1 + 11 + 55);
    assert_eq!(all_strings(b"ab", 2).len(), 1 + 2 + 4);
}
