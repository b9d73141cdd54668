//! TLS for the probe: rustls with the ring provider, certificates recorded, verified only on
//! request.
//!
//! Exchange servers of the ProxyLogon era often present self-signed or expired certificates, and
//! the certificate is often the best clue to the owner, so by default every certificate is
//! accepted and recorded (subject, issuer, validity, names, fingerprint), with whether it would
//! have passed verification against the Mozilla roots. `--verify-tls` makes that verification
//! decide the handshake.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;

/// What the server's certificate says; stable field names of the `tls` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// `TLSv1.2` or `TLSv1.3`; `null` when the handshake failed.
    pub version: Option<&'static str>,
    /// RFC 4514 form, e.g. `CN=mail.example.org, O=Example`.
    pub subject: String,
    pub issuer: String,
    /// RFC 3339.
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    /// `not_after` is in the past.
    pub expired: bool,
    /// Subject and issuer are the same name.
    pub self_signed: bool,
    /// DNS names and addresses of the subjectAltName extension.
    pub san: Vec<String>,
    /// SHA-256 of the DER certificate, lower-case hex: the key to find the same certificate on
    /// other addresses.
    pub sha256: String,
    /// Whether the chain verifies against the Mozilla roots for the name probed.
    pub verified: bool,
    /// Why it does not verify (`null` when it does).
    pub verify_error: Option<String>,
}

/// What the verifier saw during one handshake.
#[derive(Debug, Default)]
pub struct Captured {
    pub end_entity: Option<CertificateDer<'static>>,
    pub verify_error: Option<String>,
}

/// Shared TLS settings; [`TlsSetup::config_for_connection`] gives each connection its own
/// capture slot.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    base: Arc<ClientConfig>,
    webpki: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
    enforce: bool,
}

impl TlsSetup {
    pub fn new(enforce: bool) -> Result<TlsSetup, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let algorithms = provider.signature_verification_algorithms;
        let placeholder = Arc::new(Capture { webpki: webpki.clone(), algorithms, enforce, slot: Arc::default() });
        let mut base = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(placeholder)
            .with_no_client_auth();
        base.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Every handshake is a full one, so the verifier sees (and records) every certificate.
        base.resumption = rustls::client::Resumption::disabled();
        Ok(TlsSetup { base: Arc::new(base), webpki, algorithms, enforce })
    }

    /// A client configuration whose verifier records the certificate into `slot`.
    pub fn config_for_connection(&self, slot: Arc<Mutex<Captured>>) -> Arc<ClientConfig> {
        let mut config = (*self.base).clone();
        config.dangerous().set_certificate_verifier(Arc::new(Capture {
            webpki: self.webpki.clone(),
            algorithms: self.algorithms,
            enforce: self.enforce,
            slot,
        }));
        Arc::new(config)
    }

    pub fn enforced(&self) -> bool {
        self.enforce
    }
}

/// Records the end-entity certificate and the verification result, then accepts (default) or
/// returns the result (`--verify-tls`). Handshake signatures are always checked.
#[derive(Debug)]
struct Capture {
    webpki: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
    enforce: bool,
    slot: Arc<Mutex<Captured>>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        if let Ok(mut slot) = self.slot.lock() {
            slot.end_entity = Some(end_entity.clone().into_owned());
            slot.verify_error = verdict.as_ref().err().map(describe_tls_error);
        }
        match verdict {
            Err(e) if self.enforce => Err(e),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A rustls error in words an operator can act on.
pub fn describe_tls_error(e: &rustls::Error) -> String {
    use rustls::{CertificateError, Error, InvalidMessage};
    match e {
        Error::InvalidCertificate(CertificateError::Expired) => "certificate expired".to_owned(),
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "certificate not issued by a trusted authority (unknown issuer)".to_owned()
        }
        Error::InvalidCertificate(CertificateError::NotValidForName) => {
            "certificate not valid for the name probed".to_owned()
        }
        Error::InvalidMessage(InvalidMessage::InvalidContentType) => {
            "the server did not answer with TLS (plain HTTP? try http://HOST:PORT)".to_owned()
        }
        Error::PeerIncompatible(_) => {
            format!("no TLS version or cipher in common (the server may only offer TLS 1.0/1.1): {e}")
        }
        other => other.to_string(),
    }
}

/// Reads what the report needs from a DER certificate (only the fingerprint when it does not
/// parse).
pub fn describe_certificate(der: &[u8], verify_error: Option<String>, version: Option<&'static str>) -> TlsInfo {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
    let rfc3339 = |seconds: i64| jiff::Timestamp::from_second(seconds).ok().map(|t| t.to_string());
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        let verify_error = verify_error.or_else(|| Some("certificate does not parse".to_owned()));
        return TlsInfo {
            version,
            subject: String::new(),
            issuer: String::new(),
            not_before: None,
            not_after: None,
            expired: false,
            self_signed: false,
            san: Vec::new(),
            sha256,
            verified: false,
            verify_error,
        };
    };
    let not_after = cert.validity().not_after.timestamp();
    let san = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => ip_from_bytes(bytes),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    TlsInfo {
        version,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(cert.validity().not_before.timestamp()),
        not_after: rfc3339(not_after),
        expired: jiff::Timestamp::now().as_second() > not_after,
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        san,
        sha256,
        verified: verify_error.is_none(),
        verify_error,
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `TLSv1.3`-style name of a negotiated version.
pub fn version_name(version: Option<rustls::ProtocolVersion>) -> Option<&'static str> {
    match version? {
        rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
        rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
        _ => Some("other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_addresses() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(ip_from_bytes(&[127, 0, 0, 1]).as_deref(), Some("127.0.0.1"));
        assert_eq!(ip_from_bytes(&[0; 3]), None);
    }

    #[test]
    fn garbage_certificate_is_described_not_fatal() {
        let info = describe_certificate(b"not a certificate", None, Some("TLSv1.3"));
        assert!(!info.verified);
        assert_eq!(info.sha256.len(), 64);
    }
}
