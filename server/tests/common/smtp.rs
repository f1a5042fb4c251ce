//! A real SMTP listener for tests (mailin-embedded), keeping every message it
//! receives in memory.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server};

/// One received message.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

impl ReceivedMail {
    /// The parsed message.
    pub fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.raw).expect("a well-formed message")
    }

    /// A header's decoded value.
    pub fn header(&self, name: &str) -> Option<String> {
        use mailparse::MailHeaderMap;
        self.parsed().headers.get_first_value(name)
    }

    /// The `text/plain` part, decoded.
    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    /// The `text/html` part, decoded.
    pub fn html(&self) -> String {
        self.part("text/html")
    }

    fn part(&self, mime: &str) -> String {
        fn find(part: &mailparse::ParsedMail<'_>, mime: &str) -> Option<String> {
            if part.ctype.mimetype == mime {
                return part.get_body().ok();
            }
            part.subparts.iter().find_map(|p| find(p, mime))
        }
        find(&self.parsed(), mime).unwrap_or_default()
    }
}

#[derive(Clone)]
struct Collector {
    store: Arc<Mutex<Vec<ReceivedMail>>>,
    reject_recipients_containing: Option<String>,
    from: String,
    to: Vec<String>,
    buffer: Vec<u8>,
}

impl Handler for Collector {
    fn rcpt(&mut self, to: &str) -> Response {
        match &self.reject_recipients_containing {
            Some(needle) if to.contains(needle.as_str()) => NO_MAILBOX,
            _ => OK,
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.buffer.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.buffer.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = ReceivedMail {
            from: self.from.clone(),
            to: self.to.clone(),
            raw: std::mem::take(&mut self.buffer),
        };
        self.store.lock().expect("mail store").push(mail);
        OK
    }
}

/// The listener; it runs until the test process exits.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    store: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl SmtpSink {
    /// Starts a listener on a free loopback port that accepts everything.
    pub fn start() -> Self {
        Self::start_rejecting(None)
    }

    /// Starts a listener that answers 550 to recipients containing `needle`.
    pub fn start_rejecting(needle: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP listener");
        let port = listener.local_addr().expect("address").port();
        let store = Arc::new(Mutex::new(Vec::new()));
        let handler = Collector {
            store: store.clone(),
            reject_recipients_containing: needle.map(str::to_owned),
            from: String::new(),
            to: Vec::new(),
            buffer: Vec::new(),
        };
        std::thread::spawn(move || {
            let mut server = Server::new(handler);
            // A thread per connection: lettre's pool may open a connection
            // while a finished one is still on its way back to the pool (and
            // then closes the surplus), so allow more than the portal's
            // eight, as a real server would.
            server
                .with_name("smtp.test")
                .with_num_threads(32)
                .with_tcp_listener(listener);
            let _ = server.serve();
        });
        Self { port, store }
    }

    /// `SMTP_URL` for the portal.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.store.lock().expect("mail store").clone()
    }

    /// Number of messages received so far.
    pub fn count(&self) -> usize {
        self.store.lock().expect("mail store").len()
    }
}
