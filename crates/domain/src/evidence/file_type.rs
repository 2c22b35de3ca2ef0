//! The allowlist of evidence file types (SEC-56). A file is accepted only when its first
//! bytes prove the type its extension claims: an HTML page renamed `.pdf` is refused, and so
//! is any type not on the list. Text types must be UTF-8 without NUL bytes.

/// An accepted file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// `application/pdf`
    Pdf,
    /// `image/png`
    Png,
    /// `image/jpeg`
    Jpeg,
    /// Word, Excel or PowerPoint (Office Open XML; a ZIP container).
    Office(&'static str),
    /// `application/zip`
    Zip,
    /// `text/csv`
    Csv,
    /// `text/plain`
    Text,
    /// `application/json`
    Json,
    /// `message/rfc822`
    Email,
}

impl FileType {
    /// The media type sent on download.
    #[must_use]
    pub const fn media_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Office(m) => m,
            Self::Zip => "application/zip",
            Self::Csv => "text/csv",
            Self::Text => "text/plain",
            Self::Json => "application/json",
            Self::Email => "message/rfc822",
        }
    }

    /// Whether the container is a ZIP archive (checked further before it is stored).
    #[must_use]
    pub const fn is_zip(self) -> bool {
        matches!(self, Self::Zip | Self::Office(_))
    }
}

/// Why a file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TypeRejection {
    /// The extension is not on the allowlist.
    #[error(
        "this type of file is not accepted (allowed: pdf, png, jpg, docx, xlsx, pptx, zip, csv, txt, json, eml)"
    )]
    NotAllowed,
    /// The content does not match the extension.
    #[error("the file's content does not match its extension")]
    Mismatch,
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";

/// Decides a file's type from its name's extension and its first bytes (at least the first
/// 512 bytes when the file is that long).
///
/// # Errors
/// [`TypeRejection::NotAllowed`] or [`TypeRejection::Mismatch`].
pub fn detect(file_name: &str, head: &[u8]) -> Result<FileType, TypeRejection> {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .ok_or(TypeRejection::NotAllowed)?;
    let zip = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
    let (claimed, ok) = match ext.as_str() {
        "pdf" => (FileType::Pdf, head.starts_with(b"%PDF-")),
        "png" => (FileType::Png, head.starts_with(b"\x89PNG\r\n\x1a\n")),
        "jpg" | "jpeg" => (FileType::Jpeg, head.starts_with(&[0xFF, 0xD8, 0xFF])),
        "docx" => (FileType::Office(DOCX), zip),
        "xlsx" => (FileType::Office(XLSX), zip),
        "pptx" => (FileType::Office(PPTX), zip),
        "zip" => (FileType::Zip, zip),
        "csv" => (FileType::Csv, is_text(head)),
        "txt" | "log" | "md" => (FileType::Text, is_text(head)),
        "json" => (
            FileType::Json,
            is_text(head) && matches!(first_non_space(head), Some(b'{' | b'[')),
        ),
        "eml" => (FileType::Email, is_text(head) && looks_like_mail(head)),
        _ => return Err(TypeRejection::NotAllowed),
    };
    if ok {
        Ok(claimed)
    } else {
        Err(TypeRejection::Mismatch)
    }
}

/// UTF-8 (allowing a character cut at the end of the sample), no NUL, and not HTML or SVG
/// markup that a browser would render.
fn is_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(s) => Some(s),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    valid.is_some_and(|s| {
        let start = s
            .trim_start_matches('\u{feff}')
            .trim_start()
            .to_ascii_lowercase();
        !["<!doctype html", "<html", "<script", "<svg", "<?xml"]
            .iter()
            .any(|p| start.starts_with(p))
    })
}

fn first_non_space(head: &[u8]) -> Option<u8> {
    head.iter()
        .copied()
        .find(|b| !(b.is_ascii_whitespace() || matches!(b, 0xEF | 0xBB | 0xBF)))
}

fn looks_like_mail(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.lines().next().is_some_and(|l| {
        l.split_once(':').is_some_and(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_56_matching_files_are_accepted() {
        assert_eq!(detect("report.PDF", b"%PDF-1.7\n..."), Ok(FileType::Pdf));
        assert_eq!(
            detect("shot.png", b"\x89PNG\r\n\x1a\n...."),
            Ok(FileType::Png)
        );
        assert_eq!(
            detect("a.jpeg", &[0xFF, 0xD8, 0xFF, 0xE0]),
            Ok(FileType::Jpeg)
        );
        assert_eq!(
            detect("soa.xlsx", b"PK\x03\x04....").map(FileType::media_type),
            Ok(XLSX)
        );
        assert_eq!(
            detect("users.csv", "name,role\nÅsa,admin\n".as_bytes()),
            Ok(FileType::Csv)
        );
        assert_eq!(detect("export.json", b"  {\"a\": 1}"), Ok(FileType::Json));
        assert_eq!(
            detect("notice.eml", b"From: a@b.c\r\nSubject: x\r\n"),
            Ok(FileType::Email)
        );
        assert_eq!(detect("empty.txt", b""), Ok(FileType::Text));
    }

    #[test]
    fn sec_56_html_renamed_pdf_and_other_lies_are_refused() {
        assert_eq!(
            detect("invoice.pdf", b"<html><script>x</script>"),
            Err(TypeRejection::Mismatch)
        );
        assert_eq!(
            detect("notes.txt", b"<!DOCTYPE html><p>"),
            Err(TypeRejection::Mismatch)
        );
        assert_eq!(
            detect("logo.png", b"<svg onload=alert(1)>"),
            Err(TypeRejection::Mismatch)
        );
        assert_eq!(
            detect("data.csv", b"MZ\x90\x00\x03\x00"),
            Err(TypeRejection::Mismatch)
        );
        assert_eq!(detect("x.json", b"alert(1)"), Err(TypeRejection::Mismatch));
        assert_eq!(
            detect("doc.docx", b"%PDF-1.4"),
            Err(TypeRejection::Mismatch)
        );
    }

    #[test]
    fn sec_56_types_off_the_list_are_refused() {
        for name in [
            "page.html",
            "run.exe",
            "x.svg",
            "macro.docm",
            "noextension",
            "a.pdf.js",
        ] {
            assert_eq!(
                detect(name, b"%PDF-1.7"),
                Err(TypeRejection::NotAllowed),
                "{name}"
            );
        }
    }
}
