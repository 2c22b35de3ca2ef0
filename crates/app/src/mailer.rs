//! The SMTP transport (lettre): STARTTLS or implicit TLS with certificate verification
//! against the system roots (plus an optional extra CA), credentials from a file or the
//! environment. `none` exists for development and tests and is refused in production.

use std::fmt;
use std::pin::Pin;

use attest_config::{Config, MailSecurity, SecretExt as _};
use attest_domain::mail::MailTransport;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

/// Sends through an SMTP server.
pub struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// Builds the transport from `[mail]`; `Ok(None)` when no SMTP host is configured.
    ///
    /// # Errors
    /// A message naming the `mail.*` key that is wrong.
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, String> {
        let m = &cfg.mail;
        let Some(host) = &m.smtp_host else {
            return Ok(None);
        };
        let from: Mailbox = m.from.parse().map_err(|e| format!("mail.from: {e}"))?;
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(ca) = &m.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| format!("mail.ca_file {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| format!("mail.ca_file: {e}"))?;
            tls = tls.add_root_certificate(cert);
        }
        let builder = match m.security {
            MailSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            }
            MailSecurity::Starttls => {
                let params = tls.build_rustls().map_err(|e| format!("mail: {e}"))?;
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
                    .tls(Tls::Required(params))
            }
            MailSecurity::Tls => {
                let params = tls.build_rustls().map_err(|e| format!("mail: {e}"))?;
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
                    .tls(Tls::Wrapper(params))
            }
        }
        .port(m.smtp_port)
        .timeout(Some(std::time::Duration::from_secs(20)));
        let password = match (&m.password, &m.password_file) {
            (Some(p), _) => Some(p.reveal().to_owned()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| format!("mail.password_file {}: {e}", f.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let builder = match (&m.username, password) {
            (Some(user), Some(pass)) => builder.credentials(Credentials::new(user.clone(), pass)),
            (Some(_), None) => {
                return Err("mail.username is set but mail.password(_file) is not".to_owned());
            }
            _ => builder,
        };
        Ok(Some(Self {
            transport: builder.build(),
            from,
        }))
    }
}

impl MailTransport for SmtpTransport {
    fn send<'a>(
        &'a self,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let to: Mailbox = to.parse().map_err(|e| format!("recipient: {e}"))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(body.to_owned())
                .map_err(|e| e.to_string())?;
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
