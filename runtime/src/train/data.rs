//! Datasets: a CSV table (a header, then one sample per row) or MNIST's IDX files (images and
//! labels, gzip-compressed or not), read into named columns of numbers.

use std::io::Read;

/// Samples as rows of named columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Samples {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Why a dataset cannot be used: which of its files (0: the first) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    pub file: usize,
    pub message: String,
}

fn error(file: usize, message: String) -> DataError {
    DataError { file, message }
}

/// The most bytes a decompressed file may hold (the full MNIST training images are 47 MB).
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

/// A CSV table: the first non-empty line names the columns; every other non-empty line is a
/// sample of numbers, one per column.
pub fn table(text: &str) -> Result<Samples, DataError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { return Err(error(0, "the table is empty".into())) };
    let columns: Vec<String> =
        header.trim_start_matches('\u{feff}').split(',').map(|s| s.trim().trim_matches('"').to_string()).collect();
    if let Some(k) = columns.iter().position(String::is_empty) {
        return Err(error(0, format!("line 1: column {} has no name", k + 1)));
    }
    if let Some((k, c)) = columns.iter().enumerate().find(|(k, c)| columns[..*k].contains(c)) {
        return Err(error(0, format!("line 1: column `{c}` is named twice (column {})", k + 1)));
    }
    let mut rows = Vec::new();
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return Err(error(
                0,
                format!("line {}: {} values for the header's {} columns", line + 1, fields.len(), columns.len()),
            ));
        }
        let row = fields
            .iter()
            .enumerate()
            .map(|(k, f)| match f.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => {
                    Err(error(0, format!("line {}: `{f}` in column `{}` is not a finite number", line + 1, columns[k])))
                }
            })
            .collect::<Result<Vec<f64>, DataError>>()?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(error(0, "the table has a header but no samples".into()));
    }
    Ok(Samples { columns, rows })
}

/// MNIST's IDX pair: `images` (magic 0x803: count, rows, columns, then bytes) and `labels` (magic
/// 0x801: count, then bytes). Columns `label`, then `pixel0` … in row-major order, each pixel
/// scaled to [0, 1].
pub fn mnist(images: &[u8], labels: &[u8]) -> Result<Samples, DataError> {
    let images = decompress(images).map_err(|m| error(0, m))?;
    let labels = decompress(labels).map_err(|m| error(1, m))?;
    let (image_dims, pixels) = idx(&images, 0x803, 3).map_err(|m| error(0, m))?;
    let (label_dims, classes) = idx(&labels, 0x801, 1).map_err(|m| error(1, m))?;
    if image_dims[0] != label_dims[0] {
        return Err(error(1, format!("{} labels for {} images", label_dims[0], image_dims[0])));
    }
    if image_dims[0] == 0 {
        return Err(error(0, "the file holds no images".into()));
    }
    let size = image_dims[1] * image_dims[2];
    if size == 0 {
        return Err(error(0, format!("images of {} × {} pixels", image_dims[1], image_dims[2])));
    }
    let mut columns = vec!["label".to_string()];
    columns.extend((0..size).map(|k| format!("pixel{k}")));
    let rows = classes
        .iter()
        .zip(pixels.chunks_exact(size))
        .map(|(&class, image)| {
            let mut row = Vec::with_capacity(size + 1);
            row.push(f64::from(class));
            row.extend(image.iter().map(|&p| f64::from(p) / 255.0));
            row
        })
        .collect();
    Ok(Samples { columns, rows })
}

/// The bytes of a file, gunzipped when they start with gzip's magic number.
fn decompress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(bytes).take(MAX_DECOMPRESSED + 1);
    decoder.read_to_end(&mut out).map_err(|e| format!("not a valid gzip file: {e}"))?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(format!("decompresses to more than {} MiB", MAX_DECOMPRESSED >> 20));
    }
    Ok(out)
}

/// An IDX file of unsigned bytes with `rank` dimensions: the dimensions and the data.
fn idx(bytes: &[u8], magic: u32, rank: usize) -> Result<(Vec<usize>, &[u8]), String> {
    let word = |k: usize| bytes.get(4 * k..4 * k + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let found = word(0).ok_or("too short for an IDX file")?;
    if found != magic {
        return Err(format!(
            "magic number {found:#010x}, not {magic:#010x} ({})",
            if magic == 0x803 { "images" } else { "labels" }
        ));
    }
    let dims: Vec<usize> =
        (1..=rank).map(|k| word(k).map(|d| d as usize).ok_or("the header ends early")).collect::<Result<_, _>>()?;
    let count = dims.iter().try_fold(1usize, |a, d| a.checked_mul(*d)).ok_or("its dimensions overflow")?;
    let data = &bytes[4 * (rank + 1)..];
    if data.len() != count {
        return Err(format!("{} data bytes where its dimensions {dims:?} need {count}", data.len()));
    }
    Ok((dims, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_reads_and_its_errors_name_the_line() {
        let s = table("a, b,y\n0,1,1\n\n1,1,0\n").unwrap();
        assert_eq!(s.columns, ["a", "b", "y"]);
        assert_eq!(s.rows, [vec![0.0, 1.0, 1.0], vec![1.0, 1.0, 0.0]]);
        assert_eq!(table("a,b\n1\n").unwrap_err().message, "line 2: 1 values for the header's 2 columns");
        assert_eq!(table("a,b\n1,x\n").unwrap_err().message, "line 2: `x` in column `b` is not a finite number");
        assert_eq!(table("a,a\n1,2\n").unwrap_err().message, "line 1: column `a` is named twice (column 2)");
        assert_eq!(table("a\n").unwrap_err().message, "the table has a header but no samples");
        assert!(table("a\nnan\n").is_err());
    }

    fn idx_file(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    }

    #[test]
    fn mnist_idx_files_read_plain_and_gzipped() {
        let images = idx_file(0x803, &[2, 1, 2], &[0, 255, 51, 0]);
        let labels = idx_file(0x801, &[2], &[7, 3]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &images).unwrap();
        let gzipped = gz.finish().unwrap();
        for images in [&images, &gzipped] {
            let s = mnist(images, &labels).unwrap();
            assert_eq!(s.columns, ["label", "pixel0", "pixel1"]);
            assert_eq!(s.rows, [vec![7.0, 0.0, 1.0], vec![3.0, 0.2, 0.0]]);
        }
        assert_eq!(mnist(&labels, &labels).unwrap_err().file, 0);
        assert_eq!(mnist(&images, &idx_file(0x801, &[3], &[1, 2, 3])).unwrap_err().message, "3 labels for 2 images");
        assert_eq!(mnist(&images[..10], &labels).unwrap_err().message, "the header ends early");
        assert!(mnist(&images[..18], &labels).unwrap_err().message.contains("2 data bytes"));
        assert!(mnist(&[0x1f, 0x8b, 1, 2], &labels).unwrap_err().message.contains("gzip"));
        let none = mnist(&idx_file(0x803, &[0, 28, 28], &[]), &idx_file(0x801, &[0], &[])).unwrap_err();
        assert_eq!(none.message, "the file holds no images", "found by tests/it/fuzz_data.rs");
    }
}
