//! E-mail over SMTP (lettre): plain text in Chinese then English, the
//! delivery's id as the `Message-ID`.
//!
//! The relay is the bureau's mail relay on its own network (port 25, or
//! 587 with a relay that requires no TLS inside the network); the relay
//! carries the message on over TLS.

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::NotifyError;

/// Where to send mail and as whom.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://host[:port]` (port 25 if none).
    pub relay: String,
    /// The sender, e.g. `上海市一网通办 <noreply@example.gov.cn>`.
    pub from: String,
    /// How long one conversation with the relay may take.
    pub timeout: Duration,
}

/// How sending failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("邮件发送失败 (sending mail failed): {message}")]
pub struct MailError {
    /// What the relay or the connection said.
    pub message: String,
    /// The relay refused for good (5xx: no such mailbox, …).
    pub permanent: bool,
}

/// An SMTP client.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// A client of the relay `settings` name.
    pub fn new(settings: &MailSettings) -> Result<Mailer, NotifyError> {
        let bad =
            |why: String| NotifyError::Settings(format!("mail relay {}: {why}", settings.relay));
        let rest = settings
            .relay
            .strip_prefix("smtp://")
            .ok_or_else(|| bad("must be smtp://host[:port]".into()))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| bad(format!("port {port}")))?,
            ),
            None => (rest, 25),
        };
        if host.is_empty() {
            return Err(bad("no host".into()));
        }
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| NotifyError::Settings(format!("mail sender {}: {e}", settings.from)))?;
        let domain = from.email.domain().to_owned();
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(settings.timeout))
            .build();
        Ok(Mailer {
            transport,
            from,
            domain,
        })
    }

    /// Sends `subject` and `body` to `to`, as message `id`; the
    /// `Message-ID` sent.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        body: String,
        id: &str,
    ) -> Result<String, MailError> {
        let to: Mailbox = to.parse().map_err(|e| MailError {
            message: format!("address {to}: {e}"),
            permanent: true,
        })?;
        let message_id = format!("<{id}@{}>", self.domain);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            // Base64 always: Chinese text in any mail system, one decoding.
            .body(
                Body::new_with_encoding(body, ContentTransferEncoding::Base64).map_err(|_| {
                    MailError {
                        message: "the body cannot be encoded".into(),
                        permanent: true,
                    }
                })?,
            )
            .map_err(|e| MailError {
                message: e.to_string(),
                permanent: true,
            })?;
        self.transport.send(message).await.map_err(|e| MailError {
            permanent: e.is_permanent(),
            message: e.to_string(),
        })?;
        Ok(message_id)
    }
}
