//! Training data as a user may hand it over: mutated CSV tables and MNIST IDX files (plain and
//! gzip-compressed) never panic the readers; what they accept is well formed (every row a value
//! per column, every value finite, pixels in [0, 1]) and what they refuse has a message.
//! `SYLVA_FUZZ_DATA_CASES` raises the count (default 1,000 of each).

use std::io::Write;

use sylva_runtime::train::data::{Samples, mnist, table};
use sylva_tests::{Rng, repo};

fn cases() -> usize {
    std::env::var("SYLVA_FUZZ_DATA_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)
}

/// Troublesome pieces a table may hold.
const CSV_PIECES: [&str; 14] =
    [",", "\n", "\r\n", "\"", "NaN", "inf", "-1e309", "1e308", "\u{feff}", " ", "x", "0.5", ",,", "é"];

fn mutate_csv(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(4) {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let k = rng.below(lines.len());
        match rng.below(5) {
            0 => {
                lines.remove(k.min(lines.len() - 1));
            }
            1 => lines.insert(k, lines[k.min(lines.len() - 1)].clone()),
            2 => {
                let last = lines.len() - 1;
                let line = &mut lines[k.min(last)];
                let at =
                    line.char_indices().map(|(i, _)| i).nth(rng.below(line.chars().count() + 1)).unwrap_or(line.len());
                line.insert_str(at, CSV_PIECES[rng.below(CSV_PIECES.len())]);
            }
            3 => lines.truncate(k),
            _ => lines.push(CSV_PIECES[rng.below(CSV_PIECES.len())].repeat(1 + rng.below(3))),
        }
    }
    lines.join("\n")
}

fn well_formed(s: &Samples, what: &str) {
    assert!(!s.rows.is_empty(), "{what}: accepted without samples");
    for row in &s.rows {
        assert_eq!(row.len(), s.columns.len(), "{what}: a row of {} values for {} columns", row.len(), s.columns.len());
        assert!(row.iter().all(|x| x.is_finite()), "{what}: {row:?}");
    }
}

#[test]
fn mutated_tables_never_panic() {
    let seeds: Vec<String> = ["examples/train/xor.csv", "tests/data/train/and.csv", "examples/train/fit_hh_target.csv"]
        .iter()
        .map(|p| std::fs::read_to_string(repo().join(p)).expect("a table"))
        .collect();
    let mut rng = Rng(11);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..cases() {
        let text = mutate_csv(&seeds[case % seeds.len()], &mut rng);
        match table(&text) {
            Ok(s) => {
                well_formed(&s, &format!("case {case}: {text:?}"));
                accepted += 1;
            }
            Err(e) => {
                assert!(!e.message.is_empty() && e.file == 0, "case {case}");
                refused += 1;
            }
        }
    }
    eprintln!("tables: {accepted} accepted, {refused} refused");
    assert!(accepted > 0 && refused > 0, "the mutations reach both outcomes");
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
    out.extend(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("in memory");
    gz.finish().expect("in memory")
}

fn mutate_bytes(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..1 + rng.below(3) {
        let k = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if k < out.len() => out[k] ^= 1 << rng.below(8),
            1 if k < out.len() => out[k] = [0, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => out.truncate(k),
            3 => out.splice(k..k, std::iter::repeat_n(rng.below(256) as u8, 1 + rng.below(8))).for_each(drop),
            _ => {
                // A dimension of the header set to 0, 1 or the largest.
                let d = 4 * (1 + rng.below(3));
                if d + 4 <= out.len() {
                    out[d..d + 4].copy_from_slice(&[[0; 4], [0, 0, 0, 1], [0xff; 4]][rng.below(3)]);
                }
            }
        }
    }
    out
}

#[test]
fn mutated_idx_files_never_panic() {
    let mut rng = Rng(12);
    let (count, rows, cols) = (3u32, 2u32, 3u32);
    let pixels: Vec<u8> = (0..count * rows * cols).map(|_| rng.below(256) as u8).collect();
    let images = idx(0x803, &[count, rows, cols], &pixels);
    let labels = idx(0x801, &[count], &[1, 7, 9]);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..cases() {
        let (mut i, mut l) = (images.clone(), labels.clone());
        match rng.below(3) {
            0 => i = mutate_bytes(&i, &mut rng),
            1 => l = mutate_bytes(&l, &mut rng),
            _ => {}
        }
        if rng.below(2) == 0 {
            i = gzip(&i);
        }
        if rng.below(3) == 0 {
            i = mutate_bytes(&i, &mut rng);
        }
        match mnist(&i, &l) {
            Ok(s) => {
                well_formed(&s, &format!("case {case}"));
                for row in &s.rows {
                    assert!(row[1..].iter().all(|p| (0.0..=1.0).contains(p)), "case {case}: {row:?}");
                }
                accepted += 1;
            }
            Err(e) => {
                assert!(!e.message.is_empty() && e.file <= 1, "case {case}");
                refused += 1;
            }
        }
    }
    eprintln!("IDX pairs: {accepted} accepted, {refused} refused");
    assert!(accepted > 0 && refused > 0, "the mutations reach both outcomes");
}
