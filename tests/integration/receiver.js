'use strict';
// A webhook receiver for the tests: an HTTP (or HTTPS, asking for a client certificate) server on
// 127.0.0.2, the one network the tests allow, that keeps every request: its path, arrival time,
// headers, body text and the client certificate's CN. answer(path) gives the status (204).
const http = require('node:http');
const https = require('node:https');

async function receiver(answer = () => 204, tls = null) {
  const got = [];
  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url, at: Date.now(), id: req.headers['webhook-id'], headers: req.headers,
        body: Buffer.concat(chunks).toString(), peer: req.socket.getPeerCertificate?.()?.subject?.CN });
      res.writeHead(answer(req.url));
      res.end();
    });
  };
  const srv = tls ? https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, handler)
    : http.createServer(handler);
  await new Promise((res) => srv.listen(0, '127.0.0.2', res));
  const base = `${tls ? 'https' : 'http'}://127.0.0.2:${srv.address().port}`;
  return { got, base, port: srv.address().port, close: () => { srv.closeAllConnections(); srv.close(); } };
}

module.exports = { receiver };
