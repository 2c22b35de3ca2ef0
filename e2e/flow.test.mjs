// End-to-end: a person sets up Attest, signs out, fails and then succeeds to sign in, all in
// headless Chromium against the real server binary; then checks what the browser keeps
// (no readable session cookie, no web storage), where it went (only the app's own origin),
// and the pages' accessibility with axe-core.
//
// Run with ../scripts/e2e.sh (it installs Chromium and the npm packages when missing), or
// `node --test` here. Environment:
//   ATTEST_BIN  the server binary (default ${CARGO_TARGET_DIR:-~/.cache/attest-target}/debug/attest)
//   CHROMIUM    the browser (default /usr/bin/chromium, Debian's package)
// Leaves e2e/artifacts/: home.png (the signed-in start page), server.log (the server's
// stderr), axe.json (every axe finding), and failure.png when a step failed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
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

const STEP_MS = 30_000; // the most any one step may take
const ACTION_MS = 20_000; // the most any one browser action or navigation may take

const OWNER = {
  tenant: 'Northwind Trading',
  name: 'Olivia Owner',
  email: 'olivia.owner@example.org',
  password: 'violet kettle ramp orbit',
};
const WRONG_PASSWORD = 'violet kettle ramp orbix';
const SESSION_COOKIE = '__Host-attest-session';

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
function startServer(dataDir) {
  const child = spawn(ATTEST_BIN, ['--data-dir', dataDir, 'serve', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
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

/** SIGTERM, then SIGKILL if it has not gone within 10 s. Resolves with how it ended. */
async function stopServer(server) {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.exited;
  server.child.kill('SIGTERM');
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, 10_000, null);
  });
  const ended = await Promise.race([server.exited, timeout]);
  clearTimeout(timer);
  if (ended) return ended;
  server.child.kill('SIGKILL');
  await server.exited;
  return { code: null, signal: 'SIGKILL (did not stop on SIGTERM within 10 s)' };
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

test('Attest in a browser: bootstrap, account, sign out, sign in, privacy, accessibility', { timeout: 300_000 }, async (t) => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const stale of ['home.png', 'failure.png', 'axe.json', 'server.log']) {
    fs.rmSync(path.join(ARTIFACTS, stale), { force: true });
  }
  assert.ok(fs.existsSync(ATTEST_BIN), `the server binary ${ATTEST_BIN} is missing (set ATTEST_BIN)`);
  assert.ok(fs.existsSync(CHROMIUM), `the browser ${CHROMIUM} is missing (set CHROMIUM)`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'attest-e2e-'));
  let server;
  let context;
  let page;
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
        if (page) {
          await page
            .screenshot({ path: path.join(ARTIFACTS, 'failure.png'), fullPage: true, timeout: 5_000 })
            .catch(() => {});
          err.message += `\n(page was at ${page.url()}; see e2e/artifacts/failure.png)`;
        }
        throw err;
      }
    });
    if (!passed) failed = true;
  };

  const accessible = async (label) => {
    const { passed, violations, incomplete } = await axe(page);
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
    await step('the server starts and prints a bootstrap link', async () => {
      server = startServer(path.join(tmp, 'data'));
      const { origin, bootstrap } = await server.ready;
      assert.match(origin, /^https:\/\/localhost:\d+$/);
      assert.ok(bootstrap.startsWith(`${origin}/bootstrap/`), bootstrap);
      server.origin = origin;
      server.bootstrap = bootstrap;
    });

    await step('Chromium starts with a fresh profile', async () => {
      context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
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
      page = context.pages()[0] ?? (await context.newPage());
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
      await page.waitForURL(`${server.origin}/`);
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
      await submit(page.getByRole('button', { name: 'Sign in' }), 401);
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
      await submit(page.getByRole('button', { name: 'Sign in' }), 303);
      await page.waitForURL(`${server.origin}/account`);
      await page.getByRole('banner').getByText(OWNER.email, { exact: true }).waitFor();
      const rows = page.getByRole('region', { name: 'Active sessions' }).locator('tbody tr');
      assert.equal(await rows.count(), 1, 'the old session ended at sign-out');
      await page.goto(`${server.origin}/`);
      await page.getByRole('region', { name: 'Your organisations' }).getByText(OWNER.tenant).waitFor();
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
      t.diagnostic(`${requests.length} requests, all to ${server.origin}`);
    });

    await step('the server stops cleanly on SIGTERM', async () => {
      const ended = await stopServer(server);
      assert.deepEqual(ended, { code: 0, signal: null });
    });
  } finally {
    fs.writeFileSync(path.join(ARTIFACTS, 'axe.json'), `${JSON.stringify(axeFindings, null, 2)}\n`);
    if (context) await context.close().catch(() => {});
    if (server) await stopServer(server).catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
});
