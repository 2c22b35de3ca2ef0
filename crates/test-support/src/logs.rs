//! Captures the log lines the in-process server writes (the same JSON lines as `attest
//! serve`), so grey-box tests can check what reached the log (SEC-72: never a secret). One
//! subscriber for the whole test binary, installed by the first [`capture`]; it holds every
//! test's lines, so a check that something is *absent* covers them all.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static BUFFER: OnceLock<Option<Buffer>> = OnceLock::new();

/// The captured log.
#[derive(Debug, Clone, Copy)]
pub struct Logs;

/// Installs the capturing subscriber (once) and returns a handle to what it captured.
///
/// # Panics
/// If another global subscriber was installed first (nothing would be captured).
#[must_use]
pub fn capture() -> Logs {
    let installed = BUFFER.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(move || writer.clone())
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
            .ok()
            .map(|()| buffer)
    });
    assert!(
        installed.is_some(),
        "another log subscriber was installed first; logs cannot be captured"
    );
    Logs
}

impl Logs {
    /// Everything captured so far.
    #[must_use]
    pub fn text(&self) -> String {
        BUFFER
            .get()
            .and_then(Option::as_ref)
            .map(|b| {
                String::from_utf8_lossy(&b.0.lock().unwrap_or_else(PoisonError::into_inner))
                    .into_owned()
            })
            .unwrap_or_default()
    }
}
