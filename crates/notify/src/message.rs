//! One RFC 5322 message: text and HTML parts, the hosts' CSV (and optionally IntelMQ events) as
//! attachments, the ticket in the subject and in an `X-Taskforce-Ticket` header (replies and
//! bounces come back with it), and a Message-ID fixed before sending.

use anyhow::{Context, Result};
use base64::Engine;
use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use ring::rand::SecureRandom;

/// The header that carries the ticket.
#[derive(Debug, Clone)]
pub struct TicketHeader(pub String);

pub const TICKET_HEADER: &str = "X-Taskforce-Ticket";

impl Header for TicketHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(TICKET_HEADER)
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(TicketHeader(s.trim().to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// An attachment: file name, MIME type, content.
pub struct Part {
    pub file_name: String,
    pub content_type: &'static str,
    pub content: Vec<u8>,
}

/// A message ready for the outbox.
pub struct Built {
    pub message_id: String,
    pub raw: String,
}

/// `<TF-20210312-000042.k3J9…@sender.domain>`: the ticket plus randomness, unique per message.
pub fn message_id(ticket: &str, from: &str) -> Result<String> {
    let mut raw = [0u8; 9];
    ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let domain = from.rsplit_once('@').map(|(_, d)| d.trim_end_matches('>')).unwrap_or("localhost");
    Ok(format!("<{ticket}.{}@{domain}>", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)))
}

pub fn build(
    from: &str,
    to: &str,
    ticket: &str,
    subject: &str,
    text: String,
    html: String,
    parts: Vec<Part>,
) -> Result<Built> {
    let from: Mailbox = from.parse().with_context(|| format!("not a sender address: {from:?}"))?;
    let to: Mailbox = to.parse().with_context(|| format!("not a recipient address: {to:?}"))?;
    let message_id = message_id(ticket, from.email.as_ref())?;
    let mut body = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(text, html));
    for p in parts {
        let ct = ContentType::parse(p.content_type).with_context(|| format!("bad content type {}", p.content_type))?;
        body = body.singlepart(Attachment::new(p.file_name).body(p.content, ct));
    }
    let msg = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.clone()))
        .header(TicketHeader(ticket.to_string()))
        .multipart(body)
        .context("building the message")?;
    let raw = String::from_utf8(msg.formatted()).context("the built message is not 7-bit/UTF-8 text")?;
    Ok(Built { message_id, raw })
}
