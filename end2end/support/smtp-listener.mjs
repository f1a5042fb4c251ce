// A real SMTP listener for the end-to-end tests (smtp-server + mailparser).
// Keeps every message in memory and serves them as JSON:
//   GET /messages        all messages, oldest first
//   DELETE /messages     forget them
//   POST /hold           accept no more messages until released (each
//                        sender waits after DATA, its message in flight)
//   POST /release        accept the held messages and the next ones
// Environment: SMTP_PORT (default 28025), SMTP_API_PORT (default 28026).
import http from 'node:http';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

const smtpPort = Number(process.env.SMTP_PORT || 28025);
const apiPort = Number(process.env.SMTP_API_PORT || 28026);
let messages = [];
let holding = false;
let held = [];

const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData(stream, session, callback) {
    simpleParser(stream)
      .then((mail) => {
        messages.push({
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          subject: mail.subject || '',
          text: mail.text || '',
          html: mail.html || '',
          headers: Object.fromEntries([...mail.headers].map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
        });
        if (holding) held.push(callback);
        else callback();
      })
      .catch(callback);
  },
});
smtp.listen(smtpPort, '127.0.0.1');

const api = http.createServer((req, res) => {
  if (req.url === '/messages' && req.method === 'GET') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(messages));
  } else if (req.url === '/messages' && req.method === 'DELETE') {
    messages = [];
    res.statusCode = 204;
    res.end();
  } else if (req.url === '/hold' && req.method === 'POST') {
    holding = true;
    res.statusCode = 204;
    res.end();
  } else if (req.url === '/release' && req.method === 'POST') {
    holding = false;
    const waiting = held;
    held = [];
    waiting.forEach((accept) => accept());
    res.statusCode = 204;
    res.end();
  } else {
    res.statusCode = 404;
    res.end();
  }
});
api.listen(apiPort, '127.0.0.1', () => console.log(`smtp-listener on ${smtpPort}, messages at http://127.0.0.1:${apiPort}/messages`));

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    smtp.close(() => api.close(() => process.exit(0)));
  });
}
