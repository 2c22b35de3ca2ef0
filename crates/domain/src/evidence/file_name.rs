//! A user's file name, made safe (SEC-57). Files are stored under random keys, so the name is
//! only shown and sent back in `Content-Disposition`; it must never carry a path, a control
//! character or a header injection, and it keeps the user's own script (RFC 6266/5987).

/// The longest name kept, in characters.
pub const MAX_CHARS: usize = 120;

/// The name shown and offered on download: the last path segment, control and separator
/// characters removed, trimmed of dots and spaces, at most [`MAX_CHARS`] characters while
/// keeping the extension. Never empty (`file`).
#[must_use]
pub fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*'))
        .collect();
    let cleaned = cleaned.trim().trim_matches('.').trim().to_owned();
    let name = if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned
    };
    if name.chars().count() <= MAX_CHARS {
        return name;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if e.chars().count() <= 10 => (s.to_owned(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    let keep = MAX_CHARS.saturating_sub(ext.chars().count());
    format!("{}{ext}", stem.chars().take(keep).collect::<String>())
}

/// The `Content-Disposition` value for a download: always `attachment`, an ASCII fallback
/// name and the UTF-8 name percent-encoded in `filename*`.
#[must_use]
pub fn content_disposition(raw: &str) -> String {
    let name = display_name(raw);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_57_paths_quotes_and_header_injection_are_removed() {
        let hostile = "../a\"\r\nX:y.pdf";
        let name = display_name(hostile);
        assert_eq!(name, "aXy.pdf");
        let header = content_disposition(hostile);
        assert!(!header.contains('\r') && !header.contains('\n'), "{header}");
        assert!(
            header.starts_with("attachment; filename=\"aXy.pdf\""),
            "{header}"
        );
        assert_eq!(display_name("C:\\Users\\x\\secret.docx"), "secret.docx");
        assert_eq!(display_name("..."), "file");
        assert_eq!(display_name(""), "file");
    }

    #[test]
    fn sec_57_unicode_names_survive_in_filename_star() {
        let header = content_disposition("Prüfbericht Ärger.pdf");
        assert!(
            header.contains("filename=\"Pr_fbericht _rger.pdf\""),
            "{header}"
        );
        assert!(
            header.contains("filename*=UTF-8''Pr%C3%BCfbericht%20%C3%84rger.pdf"),
            "{header}"
        );
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.xlsx", "a".repeat(500));
        let name = display_name(&long);
        assert_eq!(name.chars().count(), MAX_CHARS);
        assert!(name.ends_with(".xlsx"));
    }
}
