// End-to-end self-test for provider.mjs: `node check-flow.mjs` (exit 0 = every check passed).
// Plain fetch with manual redirects and a tiny cookie jar, the way the Rust tests will drive it.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';

const here = fileURLToPath(new URL('.', import.meta.url));
const REDIRECT = 'http://127.0.0.1:9/callback'; // never contacted: we stop at the redirect
const CLIENT = { client_id: 'attest-test', client_secret: 'attest-secret', redirect_uris: [REDIRECT] };
const USERS = [
  { sub: 'alice', email: 'alice@example.test', email_verified: true, name: 'Alice Example' },
  { sub: 'bob', email: 'bob@example.test', email_verified: false, name: 'Bob Example' },
];
const byId = Object.fromEntries(USERS.map((u) => [u.sub, u]));

// ------------------------------------------------------------------ harness
let passed = 0;
let failed = 0;
function assert(cond, msg) { if (!cond) throw new Error(msg); }
function eq(actual, expected, what) {
  assert(JSON.stringify(actual) === JSON.stringify(expected), `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
async function rejects(promise, code, what) {
  try { await promise; } catch (e) { eq(e.code, code, `${what} error code`); return e; }
  throw new Error(`${what}: expected rejection with ${code}`);
}
async function check(name, fn) {
  try { await fn(); passed += 1; console.log(`ok   ${name}`); } catch (e) { failed += 1; console.log(`FAIL ${name}\n     ${e.stack}`); }
}

// ------------------------------------------------------------------ provider process
const dir = mkdtempSync(join(tmpdir(), 'attest-oidc-'));
function startProvider(port = 0) {
  const cfg = join(dir, `config-${port}.json`);
  writeFileSync(cfg, JSON.stringify({ port, clients: [CLIENT], users: USERS }));
  const child = spawn(process.execPath, [join(here, 'provider.mjs'), cfg], { stdio: ['pipe', 'pipe', 'pipe'] });
  const p = { child, stdout: '', stderr: '' };
  child.stderr.on('data', (d) => { p.stderr += d; });
  p.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  p.ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      p.stdout += d;
      const nl = p.stdout.indexOf('\n');
      if (nl !== -1) resolve(JSON.parse(p.stdout.slice(0, nl)));
    });
    p.exited.then(() => reject(new Error(`provider exited early:\n${p.stderr}`)));
    setTimeout(() => reject(new Error(`provider not ready in 20s:\n${p.stderr}`)), 20000).unref();
  });
  return p;
}
const withTimeout = (promise, ms) => Promise.race([promise, new Promise((r) => setTimeout(() => r('timeout'), ms))]);

// ------------------------------------------------------------------ tiny HTTP client
class CookieJar {
  cookies = new Map(); // "name;path" -> { name, value, path }
  store(res, url) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const i = pair.indexOf('=');
      const c = { name: pair.slice(0, i), value: pair.slice(i + 1), path: '/' };
      let expired = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        if (k.toLowerCase() === 'path') c.path = v;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      if (!attrs.some((a) => a.toLowerCase().startsWith('path='))) c.path = new URL(url).pathname.replace(/\/[^/]*$/, '') || '/';
      const key = `${c.name};${c.path}`;
      if (expired) this.cookies.delete(key); else this.cookies.set(key, c);
    }
  }
  header(url) {
    const { pathname } = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

let issuer;
let disco;
let jwks;
let kid;
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const pkcePair = () => {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
};

// Runs an authorization request, following redirects (with cookies) until the client's redirect_uri.
async function authorize(jar, { loginHint, pkce = pkcePair(), extra = {} } = {}) {
  const state = b64url(randomBytes(12));
  const nonce = b64url(randomBytes(12));
  const url = new URL(disco.authorization_endpoint);
  const params = { response_type: 'code', client_id: CLIENT.client_id, redirect_uri: REDIRECT, scope: 'openid email profile', state, nonce, ...extra };
  if (pkce) Object.assign(params, { code_challenge: pkce.challenge, code_challenge_method: 'S256' });
  if (loginHint) params.login_hint = loginHint;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  let next = url.href;
  const hops = [];
  for (let i = 0; i < 10; i += 1) {
    const res = await fetch(next, { redirect: 'manual', headers: { cookie: jar.header(next) } });
    jar.store(res, next);
    hops.push(`${res.status} ${new URL(next).pathname}`);
    const loc = res.headers.get('location');
    if (!loc) throw new Error(`no redirect from ${next}: ${res.status} ${await res.text()} (hops: ${hops.join(' -> ')})`);
    next = new URL(loc, next).href;
    if (next.startsWith(REDIRECT)) {
      const q = new URL(next).searchParams;
      return { params: Object.fromEntries(q), state, nonce, pkce, hops };
    }
  }
  throw new Error(`too many redirects: ${hops.join(' -> ')}`);
}

async function token(code, verifier, auth = 'basic') {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
  if (verifier) form.set('code_verifier', verifier);
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'basic') headers.authorization = `Basic ${Buffer.from(`${CLIENT.client_id}:${CLIENT.client_secret}`).toString('base64')}`;
  else { form.set('client_id', CLIENT.client_id); form.set('client_secret', CLIENT.client_secret); }
  const res = await fetch(disco.token_endpoint, { method: 'POST', headers, body: form });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, type: res.headers.get('content-type'), text, json };
}

// Full flow: authorize + token; returns everything a test may need.
async function flow({ jar = new CookieJar(), loginHint, auth } = {}) {
  const a = await authorize(jar, { loginHint });
  assert(a.params.code, `no code in redirect: ${JSON.stringify(a.params)}`);
  eq(a.params.state, a.state, 'state');
  const t = await token(a.params.code, a.pkce.verifier, auth);
  return { ...a, jar, token: t };
}

const setMode = async (mode) => {
  const res = await fetch(`${issuer}/__test/mode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode }) });
  return { status: res.status, json: await res.json() };
};
const getMode = async () => (await (await fetch(`${issuer}/__test/mode`)).json()).mode;
const verify = (jwt, nonce, opts = {}) => jose.jwtVerify(jwt, jwks, { issuer, audience: CLIENT.client_id, algorithms: ['RS256'], ...opts })
  .then((r) => { if (nonce !== undefined) eq(r.payload.nonce, nonce, 'nonce'); return r; });

// Runs a flow with a one-shot mode armed; checks the mode is consumed by the token call.
async function flowWithMode(mode, loginHint = 'alice') {
  const set = await setMode(mode);
  eq(set.status, 200, `POST /__test/mode ${mode}`);
  eq(await getMode(), mode, 'GET /__test/mode after arming');
  const f = await flow({ loginHint });
  eq(await getMode(), 'normal', `mode after token call (${mode} is one-shot)`);
  return f;
}

// ------------------------------------------------------------------ the checks
const main = startProvider(0);
const ready = await main.ready;

await check('stdout contract: one JSON line {issuer, port}', async () => {
  eq(Object.keys(ready), ['issuer', 'port'], 'keys');
  assert(Number.isInteger(ready.port) && ready.port > 0, 'port is a positive integer');
  eq(ready.issuer, `http://127.0.0.1:${ready.port}`, 'issuer');
  issuer = ready.issuer;
});

await check('discovery + JWKS', async () => {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  eq(res.status, 200, 'discovery status');
  disco = await res.json();
  eq(disco.issuer, issuer, 'issuer');
  for (const s of ['openid', 'email', 'profile']) assert(disco.scopes_supported.includes(s), `scope ${s} supported`);
  eq(disco.code_challenge_methods_supported, ['S256'], 'code_challenge_methods_supported');
  for (const m of ['client_secret_basic', 'client_secret_post']) assert(disco.token_endpoint_auth_methods_supported.includes(m), `${m} supported`);
  assert(disco.id_token_signing_alg_values_supported.includes('RS256'), 'RS256 supported');
  const keys = await (await fetch(disco.jwks_uri)).json();
  eq(keys.keys.length, 1, 'one key in JWKS');
  eq([keys.keys[0].kty, keys.keys[0].alg, typeof keys.keys[0].kid], ['RSA', 'RS256', 'string'], 'JWK kty/alg/kid');
  assert(!('d' in keys.keys[0]), 'JWKS holds no private part');
  jwks = jose.createLocalJWKSet(keys);
  kid = keys.keys[0].kid;
});

let bobFlow;
await check('code flow with PKCE S256 + state + nonce, user chosen by login_hint (bob), client_secret_basic', async () => {
  bobFlow = await flow({ loginHint: 'bob' });
  const { token: t, nonce } = bobFlow;
  eq(t.status, 200, `token status (${t.text})`);
  eq(t.json.token_type, 'Bearer', 'token_type');
  assert(t.json.access_token, 'access_token present');
  const { payload, protectedHeader } = await verify(t.json.id_token, nonce);
  eq(protectedHeader.alg, 'RS256', 'alg');
  eq([payload.iss, payload.aud, payload.sub], [issuer, CLIENT.client_id, 'bob'], 'iss/aud/sub');
  eq([payload.email, payload.email_verified, payload.name], [byId.bob.email, false, byId.bob.name], 'email/email_verified/name in id_token');
  if (process.env.SHOW_ID_TOKEN) console.log(JSON.stringify({ header: protectedHeader, payload, token_response_keys: Object.keys(t.json) }));
});

await check('second login with the same cookie jar (same user) works', async () => {
  const f = await flow({ jar: bobFlow.jar, loginHint: 'bob' });
  eq(f.token.status, 200, 'token status');
  const { payload } = await verify(f.token.json.id_token, f.nonce);
  eq(payload.sub, 'bob', 'sub');
  assert(!f.hops.some((h) => h.includes('/interaction/')), `session reused without a new interaction (${f.hops.join(' -> ')})`);
});

await check('second login with the same cookie jar as another user (login_hint=alice) works', async () => {
  const f = await flow({ jar: bobFlow.jar, loginHint: 'alice' });
  eq(f.token.status, 200, 'token status');
  const { payload } = await verify(f.token.json.id_token, f.nonce);
  eq([payload.sub, payload.email, payload.email_verified], ['alice', byId.alice.email, true], 'sub/email/email_verified');
});

await check('no login_hint -> first configured user; client_secret_post accepted', async () => {
  const f = await flow({ auth: 'post' });
  eq(f.token.status, 200, `token status (${f.token.text})`);
  eq((await verify(f.token.json.id_token, f.nonce)).payload.sub, USERS[0].sub, 'sub');
});

await check('unknown login_hint -> access_denied at the redirect_uri', async () => {
  const a = await authorize(new CookieJar(), { loginHint: 'mallory' });
  eq([a.params.error, a.params.state], ['access_denied', a.state], 'error/state');
});

await check('PKCE missing -> provider refuses the authorization request', async () => {
  const a = await authorize(new CookieJar(), { loginHint: 'alice', pkce: null });
  eq(a.params.error, 'invalid_request', `error (${a.params.error_description})`);
  assert(!a.params.code, 'no code issued');
});

await check('PKCE method plain -> refused', async () => {
  const a = await authorize(new CookieJar(), { pkce: null, extra: { code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' } });
  eq(a.params.error, 'invalid_request', `error (${a.params.error_description})`);
});

await check('wrong code_verifier -> token error invalid_grant', async () => {
  const a = await authorize(new CookieJar(), { loginHint: 'alice' });
  const t = await token(a.params.code, pkcePair().verifier);
  eq([t.status, t.json?.error], [400, 'invalid_grant'], 'status/error');
  const t2 = await token(a.params.code, undefined);
  eq(t2.status, 400, 'missing code_verifier also refused');
});

await check('mode normal: unchanged', async () => {
  const f = await flowWithMode('normal');
  await verify(f.token.json.id_token, f.nonce);
});

await check('mode wrong_audience: aud=someone-else, validly signed with the same kid', async () => {
  const f = await flowWithMode('wrong_audience');
  const jwt = f.token.json.id_token;
  await rejects(verify(jwt), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'audience check');
  const { payload, protectedHeader } = await verify(jwt, f.nonce, { audience: 'someone-else' });
  eq([payload.aud, payload.iss, payload.sub], ['someone-else', issuer, 'alice'], 'aud/iss/sub');
  eq(protectedHeader.kid, kid, 'same kid as the JWKS key');
});

await check('mode alg_none: unsigned JWT with the same claims', async () => {
  const f = await flowWithMode('alg_none');
  const jwt = f.token.json.id_token;
  const [h, , s] = jwt.split('.');
  eq(JSON.parse(Buffer.from(h, 'base64url')), { alg: 'none', typ: 'JWT' }, 'header');
  eq(s, '', 'signature part');
  const p = jose.decodeJwt(jwt);
  eq([p.iss, p.aud, p.sub, p.nonce, p.email], [issuer, CLIENT.client_id, 'alice', f.nonce, byId.alice.email], 'claims');
  await rejects(verify(jwt), 'ERR_JOSE_ALG_NOT_ALLOWED', 'verification');
});

await check('mode wrong_issuer: iss=http://evil.example, validly signed', async () => {
  const f = await flowWithMode('wrong_issuer');
  await rejects(verify(f.token.json.id_token), 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'issuer check');
  const { payload } = await verify(f.token.json.id_token, f.nonce, { issuer: 'http://evil.example' });
  eq(payload.aud, CLIENT.client_id, 'aud unchanged');
});

await check('mode expired: exp and iat an hour ago, validly signed', async () => {
  const f = await flowWithMode('expired');
  const jwt = f.token.json.id_token;
  await rejects(verify(jwt), 'ERR_JWT_EXPIRED', 'expiry check');
  const now = Math.floor(Date.now() / 1000);
  const { payload } = await verify(jwt, f.nonce, { currentDate: new Date((now - 3630) * 1000) });
  assert(payload.exp <= now - 3590 && payload.iat <= now - 3600, `exp/iat in the past (${payload.iat}, ${payload.exp})`);
});

await check('mode bad_signature: signature altered, header and claims intact', async () => {
  const f = await flowWithMode('bad_signature');
  const jwt = f.token.json.id_token;
  await rejects(verify(jwt), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'signature check');
  const p = jose.decodeJwt(jwt);
  eq([p.iss, p.aud, p.nonce], [issuer, CLIENT.client_id, f.nonce], 'claims intact');
});

await check('mode replay_nonce: previous id_token returned (earlier nonce), validly signed', async () => {
  const prev = await flow({ loginHint: 'alice' });
  eq(prev.token.status, 200, 'previous flow');
  const f = await flowWithMode('replay_nonce');
  const jwt = f.token.json.id_token;
  eq(jwt, prev.token.json.id_token, 'exactly the previous id_token');
  const { payload } = await verify(jwt);
  eq(payload.nonce, prev.nonce, 'nonce from the earlier flow');
  assert(payload.nonce !== f.nonce, 'nonce differs from this flow');
});

await check('mode token_error: 400 invalid_grant "test"', async () => {
  const f = await flowWithMode('token_error');
  eq([f.token.status, f.token.json], [400, { error: 'invalid_grant', error_description: 'test' }], 'status/body');
});

await check('mode server_error: 500 with a text body', async () => {
  const f = await flowWithMode('server_error');
  eq(f.token.status, 500, 'status');
  assert(f.token.type.startsWith('text/plain') && f.token.text.length > 0 && !f.token.json, `text body (${f.token.type})`);
});

await check('after the one-shot modes, a flow is normal again', async () => {
  const f = await flow({ loginHint: 'bob' });
  eq((await verify(f.token.json.id_token, f.nonce)).payload.sub, 'bob', 'sub');
});

await check('mode discovery_down: 503 until set back to normal (persistent)', async () => {
  eq((await setMode('discovery_down')).status, 200, 'arm');
  eq(await getMode(), 'discovery_down', 'GET mode');
  for (let i = 0; i < 2; i += 1) eq((await fetch(`${issuer}/.well-known/openid-configuration`)).status, 503, `discovery attempt ${i + 1}`);
  const f = await flow({ loginHint: 'alice' }); // other endpoints keep working
  eq(f.token.status, 200, 'token endpoint while discovery is down');
  eq((await fetch(`${issuer}/.well-known/openid-configuration`)).status, 503, 'still down after a token call');
  eq((await setMode('normal')).status, 200, 'reset');
  eq((await fetch(`${issuer}/.well-known/openid-configuration`)).status, 200, 'discovery back');
});

await check('unknown mode -> 400', async () => {
  eq((await setMode('bogus')).status, 400, 'status');
  eq(await getMode(), 'normal', 'mode unchanged');
});

await check('provider exits when its stdin closes; stdout had exactly one line', async () => {
  main.child.stdin.end();
  const r = await withTimeout(main.exited, 5000);
  assert(r !== 'timeout', 'exited within 5s');
  eq(main.stdout.split('\n').filter(Boolean), [JSON.stringify(ready)], 'stdout lines');
});

await check('fixed port from config; exits on SIGTERM', async () => {
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const p = startProvider(port);
  const info = await p.ready;
  eq(info, { issuer: `http://127.0.0.1:${port}`, port }, 'ready line');
  eq((await fetch(`${info.issuer}/.well-known/openid-configuration`)).status, 200, 'discovery');
  p.child.kill('SIGTERM');
  const r = await withTimeout(p.exited, 5000);
  assert(r !== 'timeout', 'exited within 5s');
});

if (failed) console.log(`--- provider stderr ---\n${main.stderr}`);
main.child.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
