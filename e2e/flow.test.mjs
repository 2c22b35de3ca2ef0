// End-to-end: a person sets up Attest and invites a colleague, who receives the invitation
// by mail (a real SMTP sink), accepts it in a browser of her own, signs out, signs in and
// signs out again, after which the used link is gone; the first person signs out, fails and
// then succeeds to sign in. All in headless Chromium against the real server binary; then
// checks what the browser keeps (no readable session cookie, no web storage), where it went
// (only the app's own origin), and the pages' accessibility with axe-core.
//
// Run with ../scripts/e2e.sh (it installs Chromium and the npm packages when missing), or
// `node --test` here. Environment:
//   ATTEST_BIN  the server binary (default ${CARGO_TARGET_DIR:-~/.cache/attest-target}/debug/attest)
//   CHROMIUM    the browser (default /usr/bin/chromium, Debian's package)
//   PYTHON      a Python 3 with aiosmtpd, the SMTP sink (default python3)
// Leaves e2e/artifacts/: home.png (the owner's signed-in start page), invitee.png (the
// invited colleague's), invitation.eml (the mail as received), server.log (the server's
// stderr), smtp.log (the sink's output), axe.json (every axe finding), and failure.png /
// failure-invitee.png (the owner's and the colleague's browser) when a step failed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, 'artifacts');

const ATTEST_BIN =
  process.env.ATTEST_BIN ||
  path.join(
    process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'attest-target'),
    'debug',
    'attest',
  );
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PYTHON = process.env.PYTHON || 'python3';

const STEP_MS = 30_000; // the most any one step may take
const ACTION_MS = 20_000; // the most any one browser action or navigation may take

const OWNER = {
  tenant: 'Northwind Trading',
  name: 'Olivia Owner',
  email: 'olivia.owner@example.org',
  password: 'violet kettle ramp orbit',
};
const WRONG_PASSWORD = 'violet kettle ramp orbix';
const INVITEE = {
  name: 'Mia Member',
  email: 'mia.member@example.org',
  password: 'copper walrus meadow tune',
};
const SESSION_COOKIE = '__Host-attest-session';

/** RFC 6238 TOTP (HMAC-SHA-1, 30 s, 6 digits) of a base32 secret: the authenticator app. */
function totp(secretBase32, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secretBase32.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

/** The authenticator's code of a step no code was used in yet (each code works once). */
let lastStep = 0;
async function freshCode(secret) {
  let step = Math.floor(Date.now() / 30_000);
  while (step <= lastStep) {
    await sleep(500);
    step = Math.floor(Date.now() / 30_000);
  }
  lastStep = step;
  return totp(secret, step);
}

// Every child we start, so that even an abrupt exit of this process takes them along.
const children = new Set();
process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Starts the server on a fresh data directory and resolves once it has printed its URL and
 * the bootstrap link. Stdout and stderr are read until the process exits.
 */
function startServer(dataDir, extraEnv = {}) {
  const child = spawn(ATTEST_BIN, ['--data-dir', dataDir, 'serve', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...extraEnv },
  });
  children.add(child);
  const log = fs.createWriteStream(path.join(ARTIFACTS, 'server.log'));
  child.stderr.pipe(log);
  const stderrTail = [];
  child.stderr.on('data', (chunk) => {
    stderrTail.push(chunk.toString());
    while (stderrTail.length > 40) stderrTail.shift();
  });
  const stdout = [];
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  const ready = new Promise((resolve, reject) => {
    let url;
    const timer = setTimeout(
      () => reject(new Error(`no bootstrap link on stdout within ${STEP_MS} ms:\n${stdout.join('\n')}`)),
      STEP_MS,
    );
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${ATTEST_BIN}: ${err.message}`));
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `the server exited early (code ${code}, signal ${signal}).\nstdout:\n${stdout.join('\n')}\nstderr (tail):\n${stderrTail.join('')}`,
        ),
      );
    });
    // Reading line by line to the end keeps the pipe drained for the server's whole life.
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      const listening = line.match(/listening on (https:\/\/\S+)/);
      if (listening) url = new URL(listening[1]);
      const link = line.match(/(https:\/\/\S+\/bootstrap\/[A-Za-z0-9_-]+)/);
      if (link && url) {
        clearTimeout(timer);
        resolve({ origin: url.origin, bootstrap: link[1] });
      }
    });
  });
  return { child, ready, exited, stdout, stderrTail };
}

/** Stops the server: see stopProcess. */
function stopServer(server) {
  return stopProcess(server);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** The greeting line of an SMTP server on 127.0.0.1:port, or null (nothing there within 1 s). */
function smtpGreeting(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (line) => {
      socket.destroy();
      resolve(line);
    };
    socket.setTimeout(1_000, () => done(null));
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end !== -1) {
        socket.end('QUIT\r\n');
        done(received.slice(0, end));
      }
    });
    socket.once('error', () => done(null));
    socket.once('close', () => done(null));
  });
}

/**
 * Starts aiosmtpd, a real SMTP server that stores every message in the maildir, on a free
 * port, and resolves once it greets on it. Another process may take the port between
 * the probe and the bind; then the sink exits and is started again on another port.
 */
async function startSmtpSink(maildir) {
  const log = fs.createWriteStream(path.join(ARTIFACTS, 'smtp.log'));
  const deadline = Date.now() + STEP_MS - 2_000;
  const failures = [];
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const port = await freePort();
    const child = spawn(
      PYTHON,
      ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.add(child);
    const output = [];
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => {
        log.write(chunk);
        output.push(chunk.toString());
        while (output.length > 40) output.shift();
      });
    }
    let ended = null;
    const exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        children.delete(child);
        ended = { code, signal };
        resolve(ended);
      });
      child.on('error', (err) => {
        children.delete(child);
        ended = { code: null, signal: null, error: err.message };
        resolve(ended);
      });
    });
    const sink = { child, exited, port, maildir };
    while (!ended && Date.now() < deadline) {
      // aiosmtpd greets with "220 <host> Python SMTP <version>"; anything else on the port
      // is another program that took it first.
      const greeting = await smtpGreeting(port);
      if (greeting && /^220 .*Python SMTP/.test(greeting)) {
        if (!ended) return sink;
        break;
      }
      await sleep(100);
    }
    if (!ended) {
      await stopProcess(sink);
      throw new Error(`the SMTP sink did not accept connections on port ${port} within ${STEP_MS} ms:\n${output.join('')}`);
    }
    failures.push(
      `port ${port}: ${ended.error ?? `exited (code ${ended.code}, signal ${ended.signal})`}\n${output.join('')}`,
    );
    // Only a lost race for the port is worth another try.
    if (!/address already in use|errno 98/i.test(output.join(''))) break;
  }
  throw new Error(
    `cannot start the SMTP sink (${PYTHON} -m aiosmtpd; install it with pip install aiosmtpd ` +
      `or apt-get install python3-aiosmtpd, or point PYTHON at a Python that has it):\n${failures.join('\n')}`,
  );
}

/** SIGTERM, then SIGKILL if it has not gone within 10 s. Resolves with how it ended. */
async function stopProcess(proc) {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.exited;
  proc.child.kill('SIGTERM');
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, 10_000, null);
  });
  const ended = await Promise.race([proc.exited, timeout]);
  clearTimeout(timer);
  if (ended) return ended;
  proc.child.kill('SIGKILL');
  await proc.exited;
  return { code: null, signal: 'SIGKILL (did not stop on SIGTERM within 10 s)' };
}

/** Decodes RFC 2047 encoded words (=?utf-8?B?…?= and =?utf-8?Q?…?=) in a header value. */
function decodeWords(value) {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, charset, kind, text) => {
      const bytes =
        kind.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : qpBytes(text.replace(/_/g, ' '));
      return new TextDecoder(charset.toLowerCase()).decode(bytes);
    });
}

/** The bytes of quoted-printable text (soft line breaks already removed). */
function qpBytes(text) {
  const out = [];
  for (let i = 0; i < text.length; i += 1) {
    const hex = text[i] === '=' ? text.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(...Buffer.from(text[i], 'utf8'));
    }
  }
  return Buffer.from(out);
}

/**
 * Reads a single-part mail as stored by the sink: its headers (lower-case names, folded
 * lines joined, encoded words decoded) and its body decoded from 7bit, 8bit,
 * quoted-printable or base64.
 */
function parseMail(raw) {
  const text = raw.replace(/\r\n/g, '\n');
  const split = text.indexOf('\n\n');
  const head = split === -1 ? text : text.slice(0, split);
  const encodedBody = split === -1 ? '' : text.slice(split + 2);
  const headers = {};
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = decodeWords(line.slice(colon + 1).trim());
  }
  const type = headers['content-type'] ?? 'text/plain';
  assert.match(type, /^text\/plain\b/i, `the mail is plain text (Content-Type: ${type})`);
  const charset = (type.match(/charset="?([^";\s]+)"?/i)?.[1] ?? 'us-ascii').toLowerCase();
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  let bytes;
  switch (encoding) {
    case '7bit':
    case '8bit':
    case 'binary':
      bytes = Buffer.from(encodedBody, 'utf8');
      break;
    case 'quoted-printable':
      // Trailing white space is padding; "=" at the end of a line is a soft line break.
      bytes = qpBytes(encodedBody.replace(/[ \t]+$/gm, '').replace(/=\n/g, ''));
      break;
    case 'base64':
      bytes = Buffer.from(encodedBody.replace(/\s+/g, ''), 'base64');
      break;
    default:
      assert.fail(`unexpected Content-Transfer-Encoding: ${encoding}`);
  }
  const decoder = charset === 'us-ascii' ? 'utf-8' : charset; // ASCII is a subset of UTF-8
  return { headers, encoding, body: new TextDecoder(decoder).decode(bytes) };
}

/** The messages in the maildir's new/ folder addressed to `to`, waiting up to `ms` for one. */
async function mailsTo(maildir, to, ms) {
  const dir = path.join(maildir, 'new');
  const deadline = Date.now() + ms;
  for (;;) {
    const found = [];
    for (const name of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
      const raw = fs.readFileSync(path.join(dir, name), 'utf8');
      const mail = parseMail(raw);
      if ((mail.headers.to ?? '').toLowerCase().includes(to.toLowerCase())) found.push({ name, raw, ...mail });
    }
    if (found.length > 0) return found;
    if (Date.now() > deadline) {
      const count = fs.existsSync(dir) ? fs.readdirSync(dir).length : 0;
      assert.fail(`no mail to ${to} reached the SMTP sink within ${ms} ms (${count} other messages)`);
    }
    await sleep(200);
  }
}

/** Headless Chromium with its own fresh profile; every request is recorded in `requests`. */
async function launchBrowser(profileDir, requests) {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_MS,
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    locale: 'en-GB',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
  });
  context.setDefaultTimeout(ACTION_MS);
  context.setDefaultNavigationTimeout(ACTION_MS);
  context.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}

/** Runs axe-core in the page: its violations and the checks it could not decide. */
async function axe(page) {
  // The page's CSP allows scripts only from 'self' and a nonce, so an injected <script> tag
  // would be refused; evaluating the source through the DevTools protocol is not subject to it.
  const loaded = await page.evaluate(() => typeof window.axe);
  if (loaded === 'undefined') {
    await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  }
  const results = await page.evaluate(() => window.axe.run(document));
  const brief = (list) =>
    list.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html, summary: n.failureSummary })),
    }));
  return {
    passed: results.passes.length,
    violations: brief(results.violations),
    incomplete: brief(results.incomplete),
  };
}

test('Attest in a browser: bootstrap, second factor, invite, accept, sign in, sign out, account, privacy, accessibility', { timeout: 600_000 }, async (t) => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const stale of [
    'home.png',
    'invitee.png',
    'failure.png',
    'failure-invitee.png',
    'axe.json',
    'server.log',
    'smtp.log',
    'invitation.eml',
  ]) {
    fs.rmSync(path.join(ARTIFACTS, stale), { force: true });
  }
  assert.ok(fs.existsSync(ATTEST_BIN), `the server binary ${ATTEST_BIN} is missing (set ATTEST_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `the browser ${CHROMIUM} is missing (set CHROMIUM)`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-e2e-'));
  let sink;
  let server;
  let context; // the owner's browser
  let page;
  let inviteeContext; // the invited colleague's browser, with a profile of its own
  let invitee;
  let invitationLink;
  let failed = false;
  const requests = [];
  const axeFindings = {};

  // One step: at most STEP_MS, and skipped once an earlier step has failed.
  // (A step that times out goes on in the background, so success is what gets recorded.)
  const step = async (name, fn) => {
    let passed = false;
    await t.test(name, { timeout: STEP_MS, skip: failed && 'an earlier step failed' }, async () => {
      try {
        await fn();
        passed = true;
      } catch (err) {
        failed = true;
        for (const [who, p, file] of [
          ['the owner', page, 'failure.png'],
          ['the invitee', invitee, 'failure-invitee.png'],
        ]) {
          if (!p) continue;
          await p.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true, timeout: 5_000 }).catch(() => {});
          err.message += `\n(${who}'s page was at ${p.url()}; see e2e/artifacts/${file})`;
        }
        throw err;
      }
    });
    if (!passed) failed = true;
  };

  const accessible = async (label, inPage = page) => {
    const { passed, violations, incomplete } = await axe(inPage);
    axeFindings[label] = { passed, violations, incomplete };
    assert.ok(passed > 10, `axe ran on ${label} (it passed only ${passed} rules)`);
    for (const v of violations) {
      t.diagnostic(`axe ${label}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target).join(', ')}`);
    }
    for (const v of incomplete) {
      t.diagnostic(`axe ${label}: needs review ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target).join(', ')}`);
    }
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(
      bad.map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target).join(', ')}`),
      [],
      `axe found serious or critical problems on ${label}`,
    );
  };

  // Submits a form with its button, as a person would, and checks the status the server
  // answered the POST with; on a surprise, says what the browser sent and what came back.
  const submit = async (button, expectedStatus) => {
    const page = button.page();
    const posted = page.waitForResponse((r) => r.request().method() === 'POST');
    await button.click();
    const response = await posted;
    if (response.status() !== expectedStatus) {
      const request = response.request();
      const sent = await request.allHeaders();
      await page.waitForLoadState();
      const heading = await page.locator('h1').first().innerText({ timeout: 5_000 }).catch(() => '?');
      assert.fail(
        `POST ${new URL(request.url()).pathname} answered ${response.status()}, expected ${expectedStatus}; ` +
          `the page shows "${heading}". The browser sent Origin: ${sent.origin ?? '(none)'}, ` +
          `Sec-Fetch-Site: ${sent['sec-fetch-site'] ?? '(none)'}, Referer: ${sent.referer ?? '(none)'}.`,
      );
    }
    return response;
  };

  try {
    await step('an SMTP sink starts and accepts connections', async () => {
      sink = await startSmtpSink(path.join(tmp, 'maildir'));
    });

    await step('the server starts and prints a bootstrap link', async () => {
      server = startServer(path.join(tmp, 'data'), {
        ATTEST_MAIL__SMTP_HOST: '127.0.0.1',
        ATTEST_MAIL__SMTP_PORT: String(sink.port),
        ATTEST_MAIL__SECURITY: 'none',
        ATTEST_MAIL__FROM: 'Attest <attest@example.org>',
      });
      const { origin, bootstrap } = await server.ready;
      assert.match(origin, /^https:\/\/localhost:\d+$/);
      assert.ok(bootstrap.startsWith(`${origin}/bootstrap/`), bootstrap);
      server.origin = origin;
      server.bootstrap = bootstrap;
    });

    await step('Chromium starts with a fresh profile', async () => {
      ({ context, page } = await launchBrowser(path.join(tmp, 'profile'), requests));
    });

    await step('the bootstrap link creates the organisation and signs the owner in', async () => {
      const response = await page.goto(server.bootstrap);
      assert.equal(response.status(), 200);
      assert.equal(await page.title(), 'Set up Attest · Attest');
      await accessible('/bootstrap/<token>');
      await page.locator('#tenant').fill(OWNER.tenant);
      await page.locator('#name').fill(OWNER.name);
      await page.locator('#email').fill(OWNER.email);
      await page.locator('#password').fill(OWNER.password);
      await submit(page.getByRole('button', { name: 'Create organisation' }), 303);
      // Owners always need a second factor (SEC-12): the first stop is its enrolment.
      await page.waitForURL(`${server.origin}/account/security`);
      await page.getByText('requires a second factor').waitFor();
    });

    await step('the owner sets up an authenticator app from a server-drawn QR code', async () => {
      await accessible('/account/security (enrolment required)');
      await submit(page.getByRole('button', { name: 'Set up an authenticator app' }), 200);
      await page.locator('.qr svg').waitFor();
      OWNER.totpSecret = (await page.locator('.qr + .help code').innerText()).trim();
      assert.match(OWNER.totpSecret, /^[A-Z2-7]{32}$/);
      await accessible('/account/security (QR code)');
      await page.locator('#code').fill(await freshCode(OWNER.totpSecret));
      await submit(page.getByRole('button', { name: 'Turn on' }), 200);
      const codes = page.getByRole('region', { name: 'Your recovery codes' }).locator('code');
      assert.equal(await codes.count(), 10, 'ten recovery codes, shown once');
      await page.screenshot({ path: path.join(ARTIFACTS, 'recovery-codes.png'), fullPage: true });
      await accessible('/account/security (recovery codes)');
      await page.goto(`${server.origin}/`);
      const header = page.getByRole('banner');
      await header.getByText(OWNER.email, { exact: true }).waitFor();
      await header.getByRole('link', { name: 'Account' }).waitFor();
      await header.getByRole('button', { name: 'Sign out' }).waitFor();
      const orgs = page.getByRole('region', { name: 'Your organisations' });
      await orgs.getByRole('cell', { name: OWNER.tenant, exact: true }).waitFor();
      const row = orgs.getByRole('row').filter({ hasText: OWNER.tenant });
      assert.match(await row.innerText(), /owner/i);
    });

    await step('the signed-in start page looks right and is accessible', async () => {
      await page.screenshot({ path: path.join(ARTIFACTS, 'home.png'), fullPage: true });
      await accessible('/');
    });

    await step('the owner invites a colleague from the accessible members page', async () => {
      const response = await page.goto(`${server.origin}/members`);
      assert.equal(response.status(), 200);
      await page.getByRole('heading', { name: `Members of ${OWNER.tenant}`, level: 1 }).waitFor();
      const rows = page.getByRole('region', { name: `Members of ${OWNER.tenant}` }).locator('tbody tr');
      assert.equal(await rows.count(), 1, 'only the owner is a member yet');
      // Name, email, role; owners and administrators also get a column of actions.
      const cells = async (row) => (await row.getByRole('cell').allInnerTexts()).slice(0, 3).map((c) => c.trim());
      assert.deepEqual(await cells(rows.first()), [OWNER.name, OWNER.email, 'Owner']);
      const form = page.getByRole('region', { name: 'Invite a colleague' });
      assert.deepEqual(
        await form.locator('#role option').evaluateAll((options) => options.map((o) => o.value)),
        ['owner', 'admin', 'manager', 'contributor', 'auditor', 'external'],
      );
      await accessible('/members');
      await form.getByLabel('Email address', { exact: true }).fill(INVITEE.email);
      await form.getByLabel('Role', { exact: true }).selectOption('contributor');
      await submit(form.getByRole('button', { name: 'Send invitation' }), 200);
      await page
        .getByRole('status')
        .getByText(`Invitation sent to ${INVITEE.email}.`, { exact: true })
        .waitFor();
      await accessible('/members (after an invitation)');
    });

    await step('the invitation arrives by mail with a one-time link and no password', async () => {
      const mails = await mailsTo(sink.maildir, INVITEE.email, STEP_MS - 5_000);
      assert.equal(mails.length, 1, `one invitation to ${INVITEE.email}, got ${mails.length}`);
      const [mail] = mails;
      fs.writeFileSync(path.join(ARTIFACTS, 'invitation.eml'), mail.raw);
      t.diagnostic(`invitation mail: Content-Transfer-Encoding ${mail.encoding}, subject "${mail.headers.subject}"`);
      assert.equal(mail.headers.from, 'Attest <attest@example.org>');
      assert.equal(mail.headers.subject, `Invitation to ${OWNER.tenant} on Attest`);
      assert.match(mail.body, new RegExp(`invited to join ${OWNER.tenant}`));
      for (const [what, text] of [
        ['decoded body', mail.body],
        ['raw message', mail.raw],
      ]) {
        assert.doesNotMatch(text, /password\s*:/i, `the mail's ${what} never carries a password`);
      }
      const links = [...new Set(mail.body.match(/https:\/\/[^\s<>"]+/g) ?? [])];
      assert.equal(links.length, 1, `exactly one link in the mail: ${links.join(', ')}`);
      const link = new URL(links[0]);
      assert.equal(link.origin, server.origin, 'the link points at this server');
      assert.match(link.pathname, /^\/invitations\/[A-Za-z0-9_-]{43}$/, `an invitation link: ${link.href}`);
      assert.equal(link.search + link.hash, '');
      invitationLink = link.href;
    });

    await step('the colleague accepts the invitation in a browser of her own', async () => {
      ({ context: inviteeContext, page: invitee } = await launchBrowser(path.join(tmp, 'profile-invitee'), requests));
      assert.deepEqual(await inviteeContext.cookies(), [], 'a fresh browser without cookies');
      const response = await invitee.goto(invitationLink);
      assert.equal(response.status(), 200);
      assert.equal(await invitee.title(), 'Accept your invitation · Attest');
      await invitee.getByRole('heading', { name: 'Accept your invitation', level: 1 }).waitFor();
      await invitee.getByText(`You have been invited to join ${OWNER.tenant}.`).waitFor();
      await accessible('/invitations/<token>', invitee);
      await invitee.locator('#name').fill(INVITEE.name);
      await invitee.locator('#password').fill(INVITEE.password);
      await submit(invitee.getByRole('button', { name: 'Accept invitation' }), 303);
      await invitee.waitForURL(`${server.origin}/`);
      const header = invitee.getByRole('banner');
      await header.getByText(INVITEE.email, { exact: true }).waitFor();
      await header.getByRole('button', { name: 'Sign out' }).waitFor();
      const orgs = invitee.getByRole('region', { name: 'Your organisations' });
      const row = orgs.getByRole('row').filter({ hasText: OWNER.tenant });
      await row.waitFor();
      assert.equal(await orgs.locator('tbody tr').count(), 1, 'one organisation');
      assert.deepEqual(await row.getByRole('cell').allInnerTexts(), [OWNER.tenant, 'Contributor', 'Current']);
      await invitee.screenshot({ path: path.join(ARTIFACTS, 'invitee.png'), fullPage: true });
      await accessible('/ (the invitee)', invitee);
    });

    await step('the owner sees the colleague among the members', async () => {
      await page.goto(`${server.origin}/members`);
      const rows = page.getByRole('region', { name: `Members of ${OWNER.tenant}` }).locator('tbody tr');
      const row = rows.filter({ hasText: INVITEE.email });
      await row.waitFor();
      const cells = (await row.getByRole('cell').allInnerTexts()).slice(0, 3).map((c) => c.trim());
      assert.deepEqual(cells, [INVITEE.name, INVITEE.email, 'Contributor']);
      assert.equal(await rows.count(), 2);
    });

    await step('the colleague signs out, signs in with her password, and signs out again', async () => {
      const signOut = async () => {
        await submit(invitee.getByRole('banner').getByRole('button', { name: 'Sign out' }), 303);
        await invitee.waitForURL(`${server.origin}/login`);
        await invitee.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
        assert.equal(await invitee.getByRole('button', { name: 'Sign out' }).count(), 0);
        const cookies = await inviteeContext.cookies();
        assert.ok(!cookies.some((c) => c.name === SESSION_COOKIE), 'the session cookie is gone');
      };
      await signOut();
      const response = await invitee.goto(`${server.origin}/login`);
      assert.equal(response.status(), 200);
      await invitee.locator('#email').fill(INVITEE.email);
      await invitee.locator('#password').fill(INVITEE.password);
      await submit(invitee.getByRole('button', { name: 'Sign in', exact: true }), 303);
      await invitee.waitForURL(`${server.origin}/`);
      await invitee.getByRole('banner').getByText(INVITEE.email, { exact: true }).waitFor();
      const row = invitee.getByRole('region', { name: 'Your organisations' }).getByRole('row').filter({ hasText: OWNER.tenant });
      assert.deepEqual(await row.getByRole('cell').allInnerTexts(), [OWNER.tenant, 'Contributor', 'Current']);
      await signOut();
    });

    await step('the used invitation link is gone (410)', async () => {
      const response = await invitee.goto(invitationLink);
      assert.equal(response.status(), 410, `GET /invitations/<token> after use answered ${response.status()}`);
      assert.equal(await invitee.locator('#password').count(), 0, 'no form to accept it again');
      assert.equal(await invitee.getByRole('button', { name: 'Accept invitation' }).count(), 0);
    });

    await step('the account page lists exactly one active session, this one', async () => {
      await page.getByRole('banner').getByRole('link', { name: 'Account' }).click();
      await page.waitForURL(`${server.origin}/account`);
      await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
      const sessions = page.getByRole('region', { name: 'Active sessions' });
      const rows = sessions.locator('tbody tr');
      assert.equal(await rows.count(), 1);
      assert.match(await rows.first().innerText(), /This browser/);
      await page.getByRole('heading', { name: 'Change password' }).waitFor();
      await accessible('/account');
    });

    await step('signing out lands on the sign-in page and /account is closed', async () => {
      await submit(page.getByRole('banner').getByRole('button', { name: 'Sign out' }), 303);
      await page.waitForURL(`${server.origin}/login`);
      await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
      const cookies = await context.cookies();
      assert.ok(!cookies.some((c) => c.name === SESSION_COOKIE), 'the session cookie is gone');
      await accessible('/login');

      const response = await page.goto(`${server.origin}/account`);
      assert.equal(response.status(), 200);
      assert.ok(response.request().redirectedFrom(), '/account redirected');
      const landed = new URL(page.url());
      assert.equal(landed.origin + landed.pathname, `${server.origin}/login`);
      assert.equal(landed.searchParams.get('next'), '/account');
      await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    });

    await step('a wrong password is refused with a clear error', async () => {
      await page.locator('#email').fill(OWNER.email);
      await page.locator('#password').fill(WRONG_PASSWORD);
      await submit(page.getByRole('button', { name: 'Sign in', exact: true }), 401);
      assert.equal(
        await page.locator('h1').first().innerText(),
        'Sign in',
        'the 401 answer shows the sign-in form again (with the error), not a generic error page',
      );
      await page.getByRole('alert').getByText('The email address or password is not correct').waitFor();
      assert.equal(await page.locator('#email').inputValue(), OWNER.email, 'the email is kept');
      assert.equal(await page.locator('#password').inputValue(), '', 'the password is not echoed');
      await accessible('/login (after a wrong password)');
    });

    await step('the right password signs in again and returns to /account', async () => {
      await sleep(1_500); // a failed attempt throttles the account for one second
      await page.locator('#email').fill(OWNER.email);
      await page.locator('#password').fill(OWNER.password);
      await submit(page.getByRole('button', { name: 'Sign in', exact: true }), 303);
      // The password is right; the second factor decides, then `next` is honoured.
      await page.waitForURL(/\/login\/second-factor/);
      assert.equal(await page.context().cookies().then((cs) => cs.some((c) => c.name === SESSION_COOKIE)), false, 'no session before the second factor');
      await accessible('/login/second-factor');
      await page.locator('#code').fill(await freshCode(OWNER.totpSecret));
      await submit(page.getByRole('button', { name: 'Continue' }), 303);
      await page.waitForURL(`${server.origin}/account`);
      await page.getByRole('banner').getByText(OWNER.email, { exact: true }).waitFor();
      const rows = page.getByRole('region', { name: 'Active sessions' }).locator('tbody tr');
      assert.equal(await rows.count(), 1, 'the old session ended at sign-out');
      await page.goto(`${server.origin}/`);
      await page.getByRole('region', { name: 'Your organisations' }).getByText(OWNER.tenant).waitFor();
    });

    await step('the owner adds a passkey from the security page (virtual authenticator)', async () => {
      // Chrome's DevTools protocol stands in for a platform authenticator with user
      // verification and discoverable credentials.
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable', { enableUI: false });
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          ctap2Version: 'ctap2_1',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });
      OWNER.webauthn = { cdp, authenticatorId };
      await page.goto(`${server.origin}/account/security`);
      const form = page.locator('#passkey-add');
      await form.waitFor({ state: 'visible' }); // shown by the static script only where WebAuthn exists
      await accessible('/account/security (passkeys)');
      await page.locator('#passkey-name').fill('Virtual authenticator');
      const added = page.waitForResponse(
        (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/account/security/passkeys',
      );
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      assert.equal((await added).status(), 200);
      await page.getByRole('status').getByText('Your passkey was added').waitFor();
      const list = page.getByRole('region', { name: 'Passkeys' });
      await list.getByRole('cell', { name: /^Virtual authenticator/ }).waitFor();
      await list.getByText('signs in without a password').waitFor();
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      assert.equal(credentials.length, 1, 'one credential on the authenticator');
      assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
      assert.equal(credentials[0].rpId, 'localhost');
      await page.screenshot({ path: path.join(ARTIFACTS, 'passkeys.png'), fullPage: true });
    });

    await step('the owner signs out and signs in with the passkey alone', async () => {
      await submit(page.getByRole('banner').getByRole('button', { name: 'Sign out' }), 303);
      await page.waitForURL(`${server.origin}/login`);
      const button = page.getByRole('button', { name: 'Sign in with a passkey' });
      await button.waitFor({ state: 'visible' });
      const signedIn = page.waitForResponse(
        (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login/passkey',
      );
      await button.click();
      assert.equal((await signedIn).status(), 303);
      await page.waitForURL(`${server.origin}/`);
      await page.getByRole('banner').getByText(OWNER.email, { exact: true }).waitFor();
      await page.getByRole('region', { name: 'Your organisations' }).getByText(OWNER.tenant).waitFor();
      const { credentials } = await OWNER.webauthn.cdp.send('WebAuthn.getCredentials', {
        authenticatorId: OWNER.webauthn.authenticatorId,
      });
      assert.ok(credentials[0].signCount >= 1, 'the authenticator signed');
    });

    await step('the single sign-on and API token pages are accessible', async () => {
      const settings = await page.goto(`${server.origin}/tenant/sso`);
      assert.equal(settings.status(), 200);
      await page.getByRole('heading', { name: 'Single sign-on', level: 1 }).waitFor();
      await page.getByLabel('Issuer URL').waitFor();
      assert.equal(await page.getByLabel('Client secret').getAttribute('type'), 'password');
      await accessible('/tenant/sso');
      const signin = await page.goto(`${server.origin}/sso`);
      assert.equal(signin.status(), 200);
      await accessible('/sso');
      const tokens = await page.goto(`${server.origin}/account/tokens`);
      assert.equal(tokens.status(), 200);
      await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor();
      await accessible('/account/tokens');
      await page.goto(`${server.origin}/`);
    });

    await step('the owner writes a document, edits it, and the history and pages are accessible', async () => {
      const list = await page.goto(`${server.origin}/documents`);
      assert.equal(list.status(), 200);
      await page.getByRole('heading', { name: 'Documents', level: 1 }).waitFor();
      await accessible('/documents');
      await page.getByRole('link', { name: 'New document' }).click();
      await page.getByRole('heading', { name: 'New document', level: 1 }).waitFor();
      await accessible('/documents/new');
      await page.getByLabel('Title').fill('Information security policy');
      await page.getByLabel('Text').fill('<h2>Scope</h2><p>All staff.</p><img src=x onerror="alert(1)"><a href="javascript:alert(2)">x</a>');
      let dialogs = 0;
      page.on('dialog', (d) => { dialogs += 1; d.dismiss(); });
      await submit(page.getByRole('button', { name: 'Save' }), 303);
      await page.getByRole('heading', { name: 'Information security policy', level: 1 }).waitFor();
      assert.equal(await page.locator('.rich-text img, .rich-text script, .rich-text [href^="javascript"]').count(), 0);
      await page.getByRole('heading', { name: 'Scope', level: 2 }).waitFor();
      await page.getByRole('link', { name: 'Edit' }).click();
      await page.getByLabel('Text').fill('<p>All staff and contractors.</p>');
      await submit(page.getByRole('button', { name: 'Save' }), 303);
      await page.getByText('All staff and contractors.').waitFor();
      const versions = page.getByRole('region', { name: 'Versions' }).locator('tbody tr');
      assert.equal(await versions.count(), 2, 'two versions listed');
      assert.equal(dialogs, 0, 'no script ran');
      await accessible('/documents/{id}');
    });

    await step('the owner uploads evidence with a progress bar, downloads it, and a fake PDF is refused', async () => {
      const list = await page.goto(`${server.origin}/evidence`);
      assert.equal(list.status(), 200);
      await page.getByRole('heading', { name: 'Evidence', level: 1 }).waitFor();
      await accessible('/evidence');
      await page.getByRole('link', { name: 'Add evidence' }).first().click();
      await page.getByRole('heading', { name: 'Add evidence', level: 1 }).waitFor();
      await accessible('/evidence/new');
      const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(300_000, 'Q3 access review. ')]);
      await page.getByLabel('Title').fill('Q3 access review export');
      await page.getByLabel('Tags').fill('soc2, access');
      await page.getByLabel('Classification').selectOption('critical');
      await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'q3-review.pdf', mimeType: 'application/pdf', buffer: pdf });
      // upload.js sends the form itself (XMLHttpRequest, so it can show progress), then follows
      // the server's redirect.
      const response = await submit(page.getByRole('button', { name: 'Upload' }), 303);
      assert.equal(response.request().resourceType(), 'xhr', 'the upload went through the progress script');
      await page.getByRole('heading', { name: 'Q3 access review export', level: 1 }).waitFor();
      await page.getByRole('link', { name: 'q3-review.pdf' }).waitFor();
      await accessible('/evidence/{id}');
      await page.screenshot({ path: path.join(ARTIFACTS, 'evidence.png'), fullPage: true });
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('link', { name: 'q3-review.pdf' }).click(),
      ]);
      assert.equal(download.suggestedFilename(), 'q3-review.pdf');
      const saved = fs.readFileSync(await download.path());
      assert.ok(saved.equals(pdf), 'the download is the file that was uploaded');
      // A page that says it is a PDF: the server's answer replaces the form, with the reason.
      await page.goto(`${server.origin}/evidence/new`);
      await page.getByLabel('Title').fill('Not really a PDF');
      await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'invoice.pdf', mimeType: 'application/pdf', buffer: Buffer.from('<html><script>alert(1)</script></html>') });
      await submit(page.getByRole('button', { name: 'Upload' }), 415);
      await page.getByText('does not match its extension').first().waitFor();
      await accessible('/evidence/new (refused file)');
      await page.goto(`${server.origin}/`);
    });

    await step('the owner imports a baseline, writes a control, maps it and schedules an activity', async () => {
      await page.goto(`${server.origin}/frameworks`);
      await accessible('/frameworks (empty)');
      await page.getByRole('link', { name: 'Add a framework' }).first().click();
      await page.getByRole('heading', { name: 'Add a framework', level: 1 }).waitFor();
      await accessible('/frameworks/new');
      await page.getByLabel('Baseline').selectOption('low');
      await submit(page.getByRole('button', { name: 'Import' }), 303);
      await page.getByRole('heading', { name: 'Requirements', level: 2 }).waitFor();
      await page.getByRole('link', { name: 'AC-2', exact: true }).waitFor();
      await accessible('/frameworks/{id}');
      // The dashboard before: nothing mapped yet.
      await page.goto(`${server.origin}/dashboard`);
      await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      const coverage = page.getByRole('region', { name: 'Framework coverage' });
      await coverage.getByText('0%').first().waitFor();
      await accessible('/dashboard (empty)');
      // A control, mapped by the requirement's label.
      await page.goto(`${server.origin}/controls`);
      await accessible('/controls (empty)');
      await page.getByRole('link', { name: 'New control' }).click();
      await page.getByLabel('Reference').fill('CTL-001');
      await page.getByLabel('Title').fill('Quarterly review of accounts');
      await page.getByLabel('What the control does').fill('Managers confirm every account in their team.');
      await page.getByLabel('Implementation').selectOption('implemented');
      await accessible('/controls/new');
      await submit(page.getByRole('button', { name: 'Save' }), 303);
      await page.getByRole('heading', { name: 'CTL-001 Quarterly review of accounts', level: 1 }).waitFor();
      await page.getByLabel('Requirement', { exact: true }).fill('AC-2');
      await submit(page.getByRole('button', { name: 'Map', exact: true }), 303);
      await page.getByRole('region', { name: 'Requirements it meets' }).getByRole('link', { name: 'AC-2', exact: true }).waitFor();
      await accessible('/controls/{id}');
      // A monthly activity: the colleague performs it, the owner reviews it.
      await page.getByRole('link', { name: 'Add an activity' }).click();
      await page.getByRole('heading', { name: 'New activity', level: 1 }).waitFor();
      await page.getByLabel('What is done').fill('Review accounts');
      await page.getByLabel('How often').selectOption('monthly');
      await page.getByLabel('Performer', { exact: true }).selectOption({ label: INVITEE.name });
      await page.getByLabel('Reviewer', { exact: true }).selectOption({ label: OWNER.name });
      await accessible('/controls/{id}/activities/new');
      await submit(page.getByRole('button', { name: 'Save' }), 303);
      await page.getByRole('heading', { name: 'Review accounts', level: 1 }).waitFor();
      assert.ok((await page.getByRole('region', { name: 'Runs' }).locator('tbody tr').count()) >= 1, 'runs were scheduled');
      await accessible('/activities/{id}');
      // A risk, so the heat maps have something to show.
      await page.goto(`${server.origin}/risks/new`);
      await page.getByLabel('Risk', { exact: true }).fill('Former staff keep access');
      await page.getByLabel('Category').fill('People');
      await page.locator('#inherent_likelihood').selectOption('4');
      await page.locator('#inherent_impact').selectOption('4');
      await page.locator('#residual_likelihood').selectOption('2');
      await page.locator('#residual_impact').selectOption('4');
      await page.getByLabel('Controls that reduce it').fill('CTL-001');
      await accessible('/risks/new');
      await submit(page.getByRole('button', { name: 'Save' }), 303);
      await page.getByRole('heading', { name: 'Former staff keep access', level: 1 }).waitFor();
      await accessible('/risks/{id}');
      await page.goto(`${server.origin}/risks`);
      await page.getByRole('img', { name: /Inherent risk: 1 risks/ }).waitFor();
      await accessible('/risks');
    });

    await step('the colleague uploads evidence, performs the run and submits it for review', async () => {
      await invitee.goto(`${server.origin}/login`);
      await invitee.locator('#email').fill(INVITEE.email);
      await invitee.locator('#password').fill(INVITEE.password);
      await submit(invitee.getByRole('button', { name: 'Sign in', exact: true }), 303);
      await invitee.goto(`${server.origin}/evidence/new`);
      const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(20_000, 'Accounts confirmed. ')]);
      await invitee.getByLabel('Title').fill('Account review sign-off');
      await invitee.getByLabel('File', { exact: true }).setInputFiles({ name: 'sign-off.pdf', mimeType: 'application/pdf', buffer: pdf });
      await submit(invitee.getByRole('button', { name: 'Upload' }), 303);
      await invitee.getByRole('heading', { name: 'Account review sign-off', level: 1 }).waitFor();
      // Her task is on the dashboard.
      await invitee.goto(`${server.origin}/dashboard`);
      const tasks = invitee.getByRole('region', { name: 'My tasks' });
      await tasks.getByRole('link', { name: /CTL-001: Review accounts/ }).first().click();
      await invitee.getByRole('heading', { name: 'Record the result', level: 2 }).waitFor();
      await accessible('/runs/{id} (performer)', invitee);
      await invitee.getByLabel('effective', { exact: true }).check();
      await invitee.getByLabel(/Account review sign-off/).check();
      await submit(invitee.getByRole('button', { name: 'Submit for review' }), 303);
      await invitee.getByText('awaiting review').first().waitFor();
      // Four eyes: she cannot review her own run.
      await invitee.getByText('someone else must review it').waitFor();
      assert.equal(await invitee.getByRole('button', { name: 'Approve' }).count(), 0);
    });

    await step('the owner approves the run and the dashboard shows the control effective', async () => {
      await page.goto(`${server.origin}/dashboard`);
      const tasks = page.getByRole('region', { name: 'My tasks' });
      await tasks.getByRole('link', { name: /CTL-001: Review accounts/ }).first().click();
      await page.getByRole('heading', { name: 'Review', level: 2 }).waitFor();
      await page.getByRole('link', { name: 'Account review sign-off' }).waitFor();
      await accessible('/runs/{id} (reviewer)');
      await page.getByLabel('Remarks').fill('Checked against the HR leavers list.');
      await submit(page.getByRole('button', { name: 'Approve' }), 303);
      await page.getByText('approved').first().waitFor();
      await page.goto(`${server.origin}/dashboard`);
      const effectiveness = page.getByRole('img', { name: /1 controls by effectiveness, effective: 1/ });
      await effectiveness.waitFor();
      await page.getByRole('region', { name: 'Framework coverage' }).getByText('(1)').first().waitFor();
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
      await accessible('/dashboard');
      await page.goto(`${server.origin}/runs`);
      await accessible('/runs');
    });

    await step('the access review and operator access pages are accessible', async () => {
      const reviews = await page.goto(`${server.origin}/tenant/access-reviews`);
      assert.equal(reviews.status(), 200);
      await accessible('/tenant/access-reviews');
      await page.getByLabel('Name').fill('Quarterly access review');
      await submit(page.getByRole('button', { name: 'Start review' }), 303);
      await page.getByRole('heading', { name: 'Quarterly access review', level: 1 }).waitFor();
      const items = page.locator('tbody tr');
      assert.equal(await items.count(), 2, 'one item per membership');
      await accessible('/tenant/access-reviews/{id}');
      const operator = await page.goto(`${server.origin}/tenant/operator-access`);
      assert.equal(operator.status(), 200);
      await page.getByRole('heading', { name: 'Operator access', level: 1 }).waitFor();
      await accessible('/tenant/operator-access');
      await page.goto(`${server.origin}/`);
    });

    await step('scripts cannot read the session cookie and nothing is in web storage', async () => {
      const documentCookie = await page.evaluate(() => document.cookie);
      assert.ok(!documentCookie.includes(SESSION_COOKIE), `document.cookie: ${documentCookie}`);
      const session = (await context.cookies()).find((c) => c.name === SESSION_COOKIE);
      assert.ok(session, 'the browser holds a session cookie');
      assert.equal(session.httpOnly, true);
      assert.equal(session.secure, true);
      assert.equal(session.path, '/');
      assert.equal(session.sameSite, 'Lax'); // deliberate: links into Attest keep the session
      assert.equal(session.domain, new URL(server.origin).hostname, 'host-only (no Domain)');
      assert.equal(session.expires, -1, 'a browser-session cookie, not persisted');
      const storage = await page.evaluate(() => ({
        local: Object.keys(localStorage),
        session: Object.keys(sessionStorage),
      }));
      assert.deepEqual(storage, { local: [], session: [] });
      const state = await context.storageState();
      assert.deepEqual(
        state.origins.filter((o) => o.localStorage.length > 0),
        [],
        'no origin has localStorage entries',
      );
    });

    await step('every request went to the app itself', async () => {
      assert.ok(requests.length > 0);
      const foreign = requests.filter((r) => new URL(r.split(' ')[1]).origin !== server.origin);
      assert.deepEqual(foreign, [], 'requests to other origins');
      t.diagnostic(`${requests.length} requests from both browsers, all to ${server.origin}`);
    });

    await step('the server stops cleanly on SIGTERM', async () => {
      const ended = await stopServer(server);
      assert.deepEqual(ended, { code: 0, signal: null });
    });
  } finally {
    fs.writeFileSync(path.join(ARTIFACTS, 'axe.json'), `${JSON.stringify(axeFindings, null, 2)}\n`);
    if (inviteeContext) await inviteeContext.close().catch(() => {});
    if (context) await context.close().catch(() => {});
    if (server) await stopServer(server).catch(() => {});
    if (sink) await stopProcess(sink).catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
});
