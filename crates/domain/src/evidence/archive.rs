//! ZIP archives (and Office files, which are ZIP containers) are inspected, never extracted
//! (SEC-56). While an upload streams, the last [`TAIL`] bytes are kept; the archive's central
//! directory must lie entirely within them, and it is read for the entry count, the declared
//! sizes and compression ratios, the entry names (no absolute paths, no `..`, no backslashes
//! or control characters: "zip slip"), encryption, entries that overlap one another (the
//! overlapping-file zip bomb) and, in plain ZIP uploads, nested archives (42.zip).

/// How much of a file's end is kept while streaming (the central directory must fit).
pub const TAIL: usize = 4 * 1024 * 1024;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: u64 = 10_000;
/// The most bytes an archive may expand to.
pub const MAX_EXPANDED: u64 = 4 * 1024 * 1024 * 1024;
/// The largest overall compression ratio accepted (zip bombs reach thousands).
pub const MAX_RATIO: u64 = 100;
/// The longest entry name.
const MAX_NAME: usize = 1024;

const EOCD: u32 = 0x0605_4b50;
const EOCD64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
const CENTRAL: u32 = 0x0201_4b50;

/// Why an archive was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveRejection {
    /// Not a readable ZIP archive.
    #[error("the archive could not be read; upload an unbroken ZIP file")]
    Malformed,
    /// Too many entries, or a directory too large to inspect.
    #[error("the archive holds more than 10,000 entries")]
    TooManyEntries,
    /// It would expand to too much, or compresses suspiciously well.
    #[error("the archive would expand to far more than its size (a zip bomb); it is not accepted")]
    Bomb,
    /// An entry's name could escape a folder when extracted.
    #[error("the archive contains an unsafe path ({0}); entries must be relative names without ..")]
    UnsafePath(String),
    /// Entries are encrypted, so they cannot be checked.
    #[error(
        "the archive contains encrypted entries, which cannot be checked; upload it unencrypted"
    )]
    Encrypted,
    /// Archives inside a ZIP upload.
    #[error("the archive contains another archive ({0}); upload archives one level deep")]
    Nested(String),
}

/// What an accepted archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Entries.
    pub entries: u64,
    /// Declared uncompressed bytes.
    pub expanded: u64,
}

/// One central-directory entry.
struct Entry {
    name: Vec<u8>,
    flags: u16,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Inspects an archive of `total` bytes whose last bytes are `tail` (all of it when shorter
/// than [`TAIL`]). `nested_allowed` is false for plain ZIP uploads.
///
/// # Errors
/// An [`ArchiveRejection`] saying what is wrong.
pub fn inspect(
    tail: &[u8],
    total: u64,
    nested_allowed: bool,
) -> Result<ArchiveSummary, ArchiveRejection> {
    use ArchiveRejection::{Bomb, Encrypted, Malformed, Nested, TooManyEntries, UnsafePath};
    let base = total.checked_sub(tail.len() as u64).ok_or(Malformed)?;
    // The end-of-central-directory record: the last signature in the final 64 KiB + 22.
    let lowest = tail.len().saturating_sub(22 + usize::from(u16::MAX));
    let eocd = (lowest..=tail.len().saturating_sub(22))
        .rev()
        .find(|&i| u32_at(tail, i) == Some(EOCD))
        .ok_or(Malformed)?;
    let mut entries = u64::from(u16_at(tail, eocd + 10).ok_or(Malformed)?);
    let mut cd_size = u64::from(u32_at(tail, eocd + 12).ok_or(Malformed)?);
    let mut cd_offset = u64::from(u32_at(tail, eocd + 16).ok_or(Malformed)?);
    let mut cd_end = base + eocd as u64;
    if entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        let loc = eocd.checked_sub(20).ok_or(Malformed)?;
        if u32_at(tail, loc) != Some(LOCATOR64) {
            return Err(Malformed);
        }
        let rec_abs = u64_at(tail, loc + 8).ok_or(Malformed)?;
        let rec = usize::try_from(rec_abs.checked_sub(base).ok_or(TooManyEntries)?)
            .map_err(|_| Malformed)?;
        if u32_at(tail, rec) != Some(EOCD64) {
            return Err(Malformed);
        }
        entries = u64_at(tail, rec + 32).ok_or(Malformed)?;
        cd_size = u64_at(tail, rec + 40).ok_or(Malformed)?;
        cd_offset = u64_at(tail, rec + 48).ok_or(Malformed)?;
        cd_end = rec_abs;
    }
    if entries > MAX_ENTRIES {
        return Err(TooManyEntries);
    }
    if cd_offset.checked_add(cd_size) != Some(cd_end) {
        return Err(Malformed);
    }
    // The directory must be within what was kept.
    let start = usize::try_from(cd_offset.checked_sub(base).ok_or(TooManyEntries)?)
        .map_err(|_| Malformed)?;
    let end = start + usize::try_from(cd_size).map_err(|_| Malformed)?;
    let dir = tail.get(start..end).ok_or(Malformed)?;
    let mut list = Vec::new();
    let mut at = 0;
    while at < dir.len() {
        if u32_at(dir, at) != Some(CENTRAL) {
            return Err(Malformed);
        }
        let flags = u16_at(dir, at + 8).ok_or(Malformed)?;
        let mut compressed = u64::from(u32_at(dir, at + 20).ok_or(Malformed)?);
        let mut uncompressed = u64::from(u32_at(dir, at + 24).ok_or(Malformed)?);
        let name_len = usize::from(u16_at(dir, at + 28).ok_or(Malformed)?);
        let extra_len = usize::from(u16_at(dir, at + 30).ok_or(Malformed)?);
        let comment_len = usize::from(u16_at(dir, at + 32).ok_or(Malformed)?);
        let mut offset = u64::from(u32_at(dir, at + 42).ok_or(Malformed)?);
        let name = dir.get(at + 46..at + 46 + name_len).ok_or(Malformed)?;
        let extra = dir
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or(Malformed)?;
        // ZIP64: the 8-byte values, in order, of the fields that are all ones.
        let mut x = 0;
        while x + 4 <= extra.len() {
            let id = u16_at(extra, x).ok_or(Malformed)?;
            let len = usize::from(u16_at(extra, x + 2).ok_or(Malformed)?);
            let data = extra.get(x + 4..x + 4 + len).ok_or(Malformed)?;
            if id == 1 {
                let mut p = 0;
                for field in [&mut uncompressed, &mut compressed, &mut offset] {
                    if *field == 0xFFFF_FFFF {
                        *field = u64_at(data, p).ok_or(Malformed)?;
                        p += 8;
                    }
                }
            }
            x += 4 + len;
        }
        list.push(Entry {
            name: name.to_vec(),
            flags,
            compressed,
            uncompressed,
            offset,
        });
        at += 46 + name_len + extra_len + comment_len;
        if list.len() as u64 > entries {
            return Err(Malformed);
        }
    }
    if list.len() as u64 != entries {
        return Err(Malformed);
    }
    let mut expanded: u64 = 0;
    for e in &list {
        let name = String::from_utf8_lossy(&e.name);
        if !safe_name(&name) {
            return Err(UnsafePath(shown(&name)));
        }
        if e.flags & 1 == 1 {
            return Err(Encrypted);
        }
        if !nested_allowed && is_archive_name(&name) {
            return Err(Nested(shown(&name)));
        }
        expanded = expanded.checked_add(e.uncompressed).ok_or(Bomb)?;
        if e.offset >= cd_offset
            || e.offset
                .checked_add(e.compressed)
                .is_none_or(|x| x > cd_offset)
        {
            return Err(Malformed);
        }
    }
    // Entries that share bytes expand one compressed stream many times over.
    list.sort_by_key(|e| e.offset);
    for pair in list.windows(2) {
        if let [a, b] = pair
            && a.offset + 30 + a.name.len() as u64 + a.compressed > b.offset
        {
            return Err(Bomb);
        }
    }
    if expanded > MAX_EXPANDED || expanded > total.max(1).saturating_mul(MAX_RATIO).max(1 << 20) {
        return Err(Bomb);
    }
    Ok(ArchiveSummary { entries, expanded })
}

/// A name that stays inside the folder it would be extracted to.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
        && name.as_bytes().get(1).is_none_or(|b| *b != b':')
        && !name.split('/').any(|seg| seg == "..")
}

fn is_archive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        ".zip", ".jar", ".7z", ".rar", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".cab", ".iso", ".zst",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

fn shown(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(80)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored (uncompressed) archive; `lie` replaces each entry's declared uncompressed
    /// size, `overlap` points every entry at the first one's data.
    fn build(entries: &[(&str, &[u8])], lie: Option<u32>, overlap: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        let mut first = 0u32;
        for (i, (name, data)) in entries.iter().enumerate() {
            let offset = out.len() as u32;
            if i == 0 {
                first = offset;
            }
            let size = data.len() as u32;
            let declared = lie.unwrap_or(size);
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&declared.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&declared.to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            let at = if overlap { first } else { offset };
            central.extend_from_slice(&at.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        let n = entries.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn check(zip: &[u8], nested: bool) -> Result<ArchiveSummary, ArchiveRejection> {
        let keep = zip.len().min(TAIL);
        inspect(&zip[zip.len() - keep..], zip.len() as u64, nested)
    }

    #[test]
    fn sec_56_ordinary_archives_pass() {
        let zip = build(
            &[("report/q3.csv", b"a,b\n1,2\n"), ("readme.txt", b"hello")],
            None,
            false,
        );
        assert_eq!(
            check(&zip, false),
            Ok(ArchiveSummary {
                entries: 2,
                expanded: 13
            })
        );
        // Only the tail is needed.
        let big = vec![7u8; 200_000];
        let zip = build(&[("big.bin", &big), ("small.txt", b"x")], None, false);
        let tail = &zip[zip.len() - 1000..];
        assert_eq!(
            inspect(tail, zip.len() as u64, false).map(|s| s.entries),
            Ok(2)
        );
    }

    #[test]
    fn sec_56_zip_slip_names_are_refused() {
        for name in [
            "../../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "C:/Windows/x.dll",
            "a\\..\\b",
            "new\nline",
        ] {
            let zip = build(&[(name, b"x")], None, false);
            assert!(
                matches!(check(&zip, false), Err(ArchiveRejection::UnsafePath(_))),
                "{name:?}"
            );
        }
    }

    #[test]
    fn sec_56_bombs_and_nesting_are_refused() {
        // Declared sizes far beyond the archive's own.
        let zip = build(&[("zeros.bin", &[0u8; 1000])], Some(4_000_000_000), false);
        assert_eq!(check(&zip, false), Err(ArchiveRejection::Bomb));
        // Many entries pointing at the same bytes.
        let data = [1u8; 64];
        let names: Vec<String> = (0..50).map(|i| format!("f{i}.txt")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &data[..])).collect();
        let zip = build(&entries, None, true);
        assert_eq!(check(&zip, false), Err(ArchiveRejection::Bomb));
        // An archive inside a ZIP upload (42.zip), but allowed inside Office files.
        let zip = build(&[("layer/0.zip", b"PK\x03\x04")], None, false);
        assert!(matches!(
            check(&zip, false),
            Err(ArchiveRejection::Nested(_))
        ));
        assert!(check(&zip, true).is_ok());
    }

    #[test]
    fn broken_or_huge_directories_are_refused() {
        assert_eq!(
            check(b"PK\x03\x04 not really", false),
            Err(ArchiveRejection::Malformed)
        );
        let mut zip = build(&[("a.txt", b"a")], None, false);
        let n = zip.len();
        // The entry count says more than the directory holds.
        zip[n - 12] = 5;
        zip[n - 14] = 5;
        assert_eq!(check(&zip, false), Err(ArchiveRejection::Malformed));
        // A directory that begins before the kept tail cannot be inspected.
        let big = build(&[("a.txt", b"a")], None, false);
        assert_eq!(
            inspect(&big[big.len() - 30..], big.len() as u64, false),
            Err(ArchiveRejection::TooManyEntries)
        );
        let mut encrypted = build(&[("a.txt", b"a")], None, false);
        let cd = encrypted.len() - 22 - (46 + 5);
        encrypted[cd + 8] = 1;
        assert_eq!(check(&encrypted, false), Err(ArchiveRejection::Encrypted));
    }
}
