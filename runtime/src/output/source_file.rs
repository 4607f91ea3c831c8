//! Reading the text files a user names (models, imports, SWC files, run files): regular files
//! of bounded size, in UTF-8, with a located message for anything else.

use std::io::Read;

/// Model, import, SWC and run files larger than this are refused: the largest reconstructions are
/// a few MB, and the compiler holds every file in memory.
const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// Data files (training targets, tables, MNIST's IDX files) larger than this are refused: the
/// full MNIST training images are 47 MB.
const MAX_DATA_BYTES: u64 = 256 << 20;

/// Reads a model, import, SWC or run file: a regular file (`/dev/urandom` or a pipe would be read
/// forever) of at most [`MAX_SOURCE_BYTES`], in UTF-8.
pub fn read_source(path: &str) -> Result<String, String> {
    let bytes = read_bytes(path, MAX_SOURCE_BYTES)?;
    String::from_utf8(bytes).map_err(|e| not_utf8(e.as_bytes(), e.utf8_error().valid_up_to()))
}

/// Reads a data file: a regular file of at most [`MAX_DATA_BYTES`].
pub fn read_data(path: &str) -> Result<Vec<u8>, String> {
    read_bytes(path, MAX_DATA_BYTES)
}

/// The bytes of a regular file of at most `limit` bytes.
fn read_bytes(path: &str, limit: u64) -> Result<Vec<u8>, String> {
    // Checked before opening: opening a named pipe blocks until someone writes to it.
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".to_string());
    }
    let too_large = || format!("larger than the limit of {} MiB", limit >> 20);
    if metadata.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    // The file may grow after the check.
    std::fs::File::open(path).and_then(|f| f.take(limit + 1).read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Where the first byte that is not UTF-8 is, so that it can be found in an editor.
fn not_utf8(bytes: &[u8], at: usize) -> String {
    let before = &bytes[..at];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    // `before` is valid UTF-8: the column counts characters, as editors do.
    let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    format!("not UTF-8 text: byte 0x{:02x} at line {line}, column {column} (byte offset {at})", bytes[at])
}
