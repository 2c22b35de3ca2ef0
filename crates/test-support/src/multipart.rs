//! `multipart/form-data` bodies as a browser sends them, built by hand so that tests can also
//! send broken ones (a missing end, a field after the file, a lying length).

/// A body under construction.
#[derive(Debug, Clone)]
pub struct Multipart {
    /// The boundary.
    pub boundary: String,
    /// The bytes so far.
    pub body: Vec<u8>,
}

impl Default for Multipart {
    fn default() -> Self {
        Self::new()
    }
}

impl Multipart {
    /// An empty body with a random boundary.
    #[must_use]
    pub fn new() -> Self {
        Self {
            boundary: format!("----attest{}", uuid::Uuid::new_v4().simple()),
            body: Vec::new(),
        }
    }

    /// The `Content-Type` header value.
    #[must_use]
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// Adds a text field.
    #[must_use]
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self
    }

    /// The headers of a file part (its bytes follow with [`Multipart::bytes`]).
    #[must_use]
    pub fn file_head(mut self, file_name: &str, content_type: &str) -> Self {
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self
    }

    /// Raw bytes.
    #[must_use]
    pub fn bytes(mut self, data: &[u8]) -> Self {
        self.body.extend_from_slice(data);
        self
    }

    /// A whole file part.
    #[must_use]
    pub fn file(self, file_name: &str, content_type: &str, data: &[u8]) -> Self {
        self.file_head(file_name, content_type)
            .bytes(data)
            .bytes(b"\r\n")
    }

    /// The closing boundary; the body is complete.
    #[must_use]
    pub fn end(mut self) -> Vec<u8> {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        self.body
    }

    /// The closing boundary's bytes, for streamed bodies.
    #[must_use]
    pub fn closing(&self) -> Vec<u8> {
        format!("\r\n--{}--\r\n", self.boundary).into_bytes()
    }
}
