//! SMTP connections to the configured relay, kept open and reused.
//!
//! lettre's own pool is not used for two reasons measured on this machine:
//! its connections run with Nagle's algorithm on, and lettre writes the
//! end-of-data marker as a separate small write, which then waits for the
//! server's delayed ACK: about 40 ms per message, 23 messages/s per
//! connection. And its pool bounds only idle connections: a send that starts
//! while a finished one is still being handed back opens another. Here each
//! plain or STARTTLS connection is opened with `TCP_NODELAY`, and a semaphore
//! bounds the connections that exist, idle or busy. lettre still speaks the
//! protocol (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA). Implicit TLS
//! (`smtps://`) connections are opened by lettre itself, so they keep its
//! socket options.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use percent_encoding::percent_decode_str;
use tokio::sync::Semaphore;

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// No TLS (`smtp://host`).
    Plain,
    /// STARTTLS when offered (`smtp://host?tls=opportunistic`).
    StartTlsIfOffered,
    /// STARTTLS or fail (`smtp://host?tls=required`).
    StartTls,
    /// TLS from the first byte (`smtps://host`).
    Implicit,
}

/// Where the relay is, as read from `SMTP_URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
    user: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Reads `smtp://[user:password@]host[:port][?tls=required|opportunistic]`
    /// or `smtps://[user:password@]host[:port]`, with lettre's defaults for the
    /// port (25, 587 with STARTTLS, 465 for implicit TLS).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => (Security::Plain, 25),
            ("smtp", Some("required")) => (Security::StartTls, 587),
            ("smtp", Some("opportunistic")) => (Security::StartTlsIfOffered, 587),
            ("smtp", Some(other)) => {
                return Err(format!(
                    "tls must be `required` or `opportunistic`, not `{other}`"
                ));
            }
            ("smtps", _) => (Security::Implicit, 465),
            (other, _) => return Err(format!("scheme must be smtp or smtps, not {other}")),
        };
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        Ok(Self {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            user: Some(url.username()).filter(|u| !u.is_empty()).map(decode),
            password: url.password().map(decode),
        })
    }

    fn credentials(&self) -> Option<Credentials> {
        self.user
            .as_ref()
            .map(|user| Credentials::new(user.clone(), self.password.clone().unwrap_or_default()))
    }
}

/// Reused connections to one relay, at most `max_connections` at a time.
pub struct Relay {
    endpoint: Endpoint,
    hello: ClientId,
    timeout: Duration,
    /// Open connections not in use, with the time each was last used.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    slots: Semaphore,
}

/// An idle connection older than this is checked with `NOOP` before use;
/// a younger one is used straight away (a send that fails on it is retried
/// later like any other transient failure).
const CHECK_AFTER: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

type SmtpError = lettre::transport::smtp::Error;

impl Relay {
    pub fn new(endpoint: Endpoint, max_connections: usize, timeout: Duration) -> Self {
        Self {
            endpoint,
            hello: ClientId::default(),
            timeout,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(max_connections.max(1)),
        }
    }

    /// Hands one message to the relay. A connection idle for a while is
    /// checked first, and replaced if it went stale.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Response, RelayError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| RelayError::Connect("the mail relay is shut down".into()))?;
        let mut connection = loop {
            let idle = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
            match idle {
                Some((connection, since)) if since.elapsed() < CHECK_AFTER => break connection,
                Some((mut connection, _)) => {
                    if self
                        .within(connection.test_connected())
                        .await
                        .unwrap_or(false)
                    {
                        break connection;
                    }
                    connection.abort().await;
                }
                None => break self.connect().await?,
            }
        };
        match self.within(connection.send(envelope, message)).await {
            Ok(Ok(response)) => {
                if let Ok(mut idle) = self.idle.lock() {
                    idle.push((connection, Instant::now()));
                }
                Ok(response)
            }
            Ok(Err(error)) => {
                if connection.has_broken() {
                    connection.abort().await;
                } else if let Ok(mut idle) = self.idle.lock() {
                    // The server refused this message; the session is fine.
                    idle.push((connection, Instant::now()));
                }
                Err(RelayError::Smtp(error))
            }
            Err(elapsed) => {
                connection.abort().await;
                Err(RelayError::Connect(elapsed))
            }
        }
    }

    async fn within<T>(&self, work: impl Future<Output = T>) -> Result<T, String> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, RelayError> {
        let Endpoint {
            host,
            port,
            security,
            ..
        } = &self.endpoint;
        let tls = || TlsParameters::new(host.clone()).map_err(RelayError::Smtp);
        let mut connection = if *security == Security::Implicit {
            self.within(AsyncSmtpConnection::connect_tokio1(
                (host.as_str(), *port),
                Some(self.timeout),
                &self.hello,
                Some(tls()?),
                None,
            ))
            .await
            .map_err(RelayError::Connect)??
        } else {
            let address = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|e| RelayError::Connect(format!("{host}:{port}: {e}")))?
                .next()
                .ok_or_else(|| RelayError::Connect(format!("{host}: no address")))?;
            let stream = self
                .within(tokio::net::TcpStream::connect(address))
                .await
                .map_err(RelayError::Connect)?
                .map_err(|e| RelayError::Connect(format!("{host}:{port}: {e}")))?;
            stream
                .set_nodelay(true)
                .map_err(|e| RelayError::Connect(e.to_string()))?;
            self.within(AsyncSmtpConnection::connect_with_transport(
                Box::new(stream),
                &self.hello,
            ))
            .await
            .map_err(RelayError::Connect)??
        };
        let starttls = match security {
            Security::StartTls => true,
            Security::StartTlsIfOffered => connection.can_starttls(),
            Security::Plain | Security::Implicit => false,
        };
        if starttls {
            self.within(connection.starttls(tls()?, &self.hello))
                .await
                .map_err(RelayError::Connect)??;
        }
        if let Some(credentials) = self.endpoint.credentials() {
            self.within(connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials))
                .await
                .map_err(RelayError::Connect)??;
        }
        Ok(connection)
    }
}

/// Why the relay did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// No usable connection: worth retrying later.
    #[error("{0}")]
    Connect(String),
    /// The relay's answer (or a protocol failure), as lettre reports it.
    #[error("{0}")]
    Smtp(#[from] SmtpError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_the_security_and_port_lettre_would() {
        let e = Endpoint::parse("smtp://127.0.0.1:2525").expect("plain");
        assert_eq!(
            (e.host.as_str(), e.port, e.security),
            ("127.0.0.1", 2525, Security::Plain)
        );
        let e = Endpoint::parse("smtp://mail.example.org?tls=required").expect("starttls");
        assert_eq!((e.port, e.security), (587, Security::StartTls));
        let e = Endpoint::parse("smtp://mail.example.org?tls=opportunistic").expect("if offered");
        assert_eq!(e.security, Security::StartTlsIfOffered);
        let e = Endpoint::parse("smtps://user%40example.org:p%3Ass@mail.example.org").expect("tls");
        assert_eq!((e.port, e.security), (465, Security::Implicit));
        assert_eq!(e.user.as_deref(), Some("user@example.org"));
        assert_eq!(e.password.as_deref(), Some("p:ss"));
        assert!(
            !format!("{e:?}").contains("p:ss"),
            "the password is never printed"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert!(
            Endpoint::parse("http://mail.example.org")
                .expect_err("refused")
                .contains("scheme")
        );
        assert!(
            Endpoint::parse("smtp://mail.example.org?tls=maybe")
                .expect_err("refused")
                .contains("tls")
        );
        assert!(
            Endpoint::parse("mail.example.org")
                .expect_err("refused")
                .contains("URL")
        );
    }
}
