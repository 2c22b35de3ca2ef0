//! File uploads as `multipart/form-data` (multer): the form's text fields first (each at
//! most [`MAX_FIELD`] bytes, only the names a handler allows, SEC-37), the file last. The
//! file is not buffered: it comes back as a stream that the domain reads while it arrives,
//! which fails when the client goes quiet for the idle limit, breaks off, or sends anything
//! after the file.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;

/// The longest text field, bytes.
pub const MAX_FIELD: usize = 64 * 1024;

/// Why a multipart body was refused.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    /// Not `multipart/form-data` with a boundary.
    #[error("send the form as multipart/form-data")]
    NotMultipart,
    /// The body is not well-formed multipart, or broke off before the file.
    #[error("the form could not be read; send it again")]
    Malformed,
    /// A field the handler does not know (SEC-37).
    #[error("unknown field {0}")]
    UnknownField(String),
    /// A text field over [`MAX_FIELD`] bytes, or not UTF-8.
    #[error("the field {0} is too long or not text")]
    BadField(&'static str),
}

/// The file's bytes broke off (disconnect, idle client, malformed end, a field after it).
#[derive(Debug, Clone, Copy)]
pub struct Broken;

/// The incoming file.
pub struct FilePart {
    /// The name the client gave.
    pub name: String,
    /// Its bytes, as they arrive.
    pub body: BoxStream<'static, Result<Bytes, Broken>>,
}

impl std::fmt::Debug for FilePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePart")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A form read up to its file.
#[derive(Debug, Default)]
pub struct Form {
    /// `(name, value)` of each allowed text field, in order.
    pub fields: Vec<(&'static str, String)>,
    /// The file, when one was chosen.
    pub file: Option<FilePart>,
}

impl Form {
    /// A text field's value.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

/// Reads the text fields of a multipart body, stopping at the field named `file`, which is
/// returned still streaming. `allowed` names the text fields (`csrf_token` is always
/// allowed and ignored).
///
/// # Errors
/// A [`MultipartError`].
pub async fn read(
    headers: &HeaderMap,
    body: Body,
    allowed: &[&'static str],
    idle: Duration,
) -> Result<Form, MultipartError> {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or(MultipartError::NotMultipart)?;
    let mut mp = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut form = Form::default();
    loop {
        let field = match tokio::time::timeout(idle, mp.next_field()).await {
            Ok(Ok(Some(f))) => f,
            Ok(Ok(None)) => return Ok(form),
            Ok(Err(_)) | Err(_) => return Err(MultipartError::Malformed),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            if file_name.is_empty() {
                // A browser sends an empty part when no file was chosen (which multer reads
                // as an empty chunk, then the end).
                let mut field = field;
                loop {
                    match tokio::time::timeout(idle, field.chunk()).await {
                        Ok(Ok(None)) => break,
                        Ok(Ok(Some(piece))) if piece.is_empty() => {}
                        // A part named as no file must carry no bytes.
                        _ => return Err(MultipartError::Malformed),
                    }
                }
                drop(field);
                return match tokio::time::timeout(idle, mp.next_field()).await {
                    Ok(Ok(None)) => Ok(form),
                    _ => Err(MultipartError::Malformed),
                };
            }
            form.file = Some(FilePart {
                name: file_name,
                body: file_stream(field, mp, idle),
            });
            return Ok(form);
        }
        if name == "csrf_token" {
            let _ = text(field, "csrf_token", idle).await?;
            continue;
        }
        let Some(known) = allowed.iter().find(|a| **a == name) else {
            return Err(MultipartError::UnknownField(
                name.chars().take(40).collect(),
            ));
        };
        let value = text(field, known, idle).await?;
        form.fields.push((known, value));
    }
}

async fn text(
    mut field: multer::Field<'static>,
    name: &'static str,
    idle: Duration,
) -> Result<String, MultipartError> {
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(idle, field.chunk()).await {
            Ok(Ok(Some(piece))) => {
                if out.len() + piece.len() > MAX_FIELD {
                    return Err(MultipartError::BadField(name));
                }
                out.extend_from_slice(&piece);
            }
            Ok(Ok(None)) => break,
            Ok(Err(_)) | Err(_) => return Err(MultipartError::Malformed),
        }
    }
    String::from_utf8(out).map_err(|_| MultipartError::BadField(name))
}

/// `None` once the file has ended (or broke off).
type State = Option<Box<(multer::Field<'static>, multer::Multipart<'static>)>>;

fn file_stream(
    field: multer::Field<'static>,
    mp: multer::Multipart<'static>,
    idle: Duration,
) -> BoxStream<'static, Result<Bytes, Broken>> {
    let start: State = Some(Box::new((field, mp)));
    futures_util::stream::unfold(start, move |state| async move {
        let (mut field, mut mp) = *state?;
        match tokio::time::timeout(idle, field.chunk()).await {
            Ok(Ok(Some(piece))) => Some((Ok(piece), Some(Box::new((field, mp))))),
            Ok(Ok(None)) => {
                drop(field);
                // The file must be the last part, and the body must end properly.
                match tokio::time::timeout(idle, mp.next_field()).await {
                    Ok(Ok(None)) => None,
                    _ => Some((Err(Broken), None)),
                }
            }
            Ok(Err(_)) | Err(_) => Some((Err(Broken), None)),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, Option<&str>, &str)]) -> (HeaderMap, Body) {
        let mut b = String::new();
        for (name, file, value) in parts {
            b.push_str("--XyZ\r\n");
            match file {
                Some(f) => b.push_str(&format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )),
                None => b.push_str(&format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")),
            }
            b.push_str(value);
            b.push_str("\r\n");
        }
        b.push_str("--XyZ--\r\n");
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
        );
        (h, Body::from(b))
    }

    #[tokio::test]
    async fn a_form_without_a_chosen_file_reads_as_fields_only() {
        // What a browser sends when the file input is left empty.
        let (h, b) = body(&[
            ("csrf_token", None, "t"),
            ("baseline", None, "low"),
            ("file", Some(""), ""),
        ]);
        let form = read(&h, b, &["baseline"], Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(form.get("baseline").as_deref(), Some("low"));
        assert!(form.file.is_none());
    }

    #[tokio::test]
    async fn unknown_fields_are_refused_by_name() {
        let (h, b) = body(&[("tenant", None, "x")]);
        let e = read(&h, b, &["baseline"], Duration::from_secs(5))
            .await
            .err();
        assert!(matches!(e, Some(MultipartError::UnknownField(f)) if f == "tenant"));
    }
}
