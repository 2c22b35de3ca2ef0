// Local OpenID Connect provider for Attest integration tests.
//
//   node provider.mjs CONFIG.json
//
// Prints exactly one JSON line to stdout when ready:
//   {"issuer":"http://127.0.0.1:PORT","port":PORT}
// Everything else goes to stderr. Exits when stdin closes, on SIGTERM and on SIGINT.
// See README.md for the config format, the login behaviour and the /__test/mode API.
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import Provider, { interactionPolicy } from 'oidc-provider';

const log = (...args) => console.error('[oidc-test-provider]', ...args);
// stdout carries only the ready line: route any library chatter (console.info notices) to stderr.
console.log = console.info = console.debug = (...args) => console.error(...args);

// ---------------------------------------------------------------- config
const configPath = process.argv[2];
if (!configPath) {
  log('usage: node provider.mjs CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const users = config.users ?? [];
const clients = config.clients ?? [];
if (!users.length || !clients.length) {
  log('config needs at least one client and one user');
  process.exit(2);
}
const usersBySub = new Map(users.map((u) => [String(u.sub), u]));

// ---------------------------------------------------------------- signing key (kept in memory for re-signing)
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const privateJwk = { ...(await jose.exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };

// ---------------------------------------------------------------- lifecycle
let server;
function shutdown(why) {
  log(`shutting down (${why})`);
  server?.close();
  server?.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.stdin.on('end', () => shutdown('stdin closed'));
process.stdin.on('close', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.resume();

// Listen first (port 0 = random) so the issuer can carry the real port.
let handler = (_req, res) => { res.statusCode = 503; res.end('starting'); };
server = http.createServer((req, res) => handler(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(config.port ?? 0), '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

// ---------------------------------------------------------------- provider
// Extra login check: a login_hint naming another user than the session's forces a new login,
// so one cookie jar can log in as different users one after another.
const { Check, base } = interactionPolicy;
const policy = base();
policy.get('login').checks.add(new Check('login_hint_mismatch', 'login_hint names another End-User', (ctx) => {
  const hint = ctx.oidc.params.login_hint;
  const current = ctx.oidc.session.accountId;
  return hint && current && hint !== current ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
}));

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    // A client_secret_basic client also accepts client_secret_post in oidc-provider.
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  })),
  jwks: { keys: [privateJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  conformIdTokenClaims: false, // scope claims go into the id_token too, not only userinfo
  ttl: { AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 3600, IdToken: 3600 },
  pkce: { required: () => true }, // oidc-provider 9 only implements S256
  features: { devInteractions: { enabled: false } },
  interactions: { policy, url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const user = usersBySub.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: user.email, email_verified: user.email_verified, name: user.name };
      },
    };
  },
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});
provider.on('server_error', (_ctx, err) => log('server_error', err));
provider.on('authorization.error', (_ctx, err) => log('authorization.error', err.message, err.error_description ?? ''));
provider.on('grant.error', (_ctx, err) => log('grant.error', err.message, err.error_description ?? ''));

// ---------------------------------------------------------------- automatic interaction (login + consent, redirects only)
async function interaction(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  let accountId = session?.accountId;
  const result = {};
  if (prompt.name === 'login' || !accountId) {
    accountId = params.login_hint ?? String(users[0].sub);
    if (!usersBySub.has(accountId)) {
      result.error = 'access_denied';
      result.error_description = `unknown user ${accountId}`;
    } else {
      result.login = { accountId };
    }
  }
  if (result.login && session?.accountId && session.accountId !== accountId) {
    // Switching user in the same browser: drop the old session here, otherwise oidc-provider
    // would first render an auto-submitting logout form (not redirect-only).
    await (await provider.Session.findByUid(session.uid))?.destroy();
    delete details.session;
    await details.save(Math.max(1, details.exp - Math.floor(Date.now() / 1000)));
  }
  if (!result.error) {
    const grant = new provider.Grant({ accountId, clientId: params.client_id });
    grant.addOIDCScope('openid email profile');
    result.consent = { grantId: await grant.save() };
  }
  log(`interaction ${details.uid} prompt=${prompt.name} ->`, result.error ?? accountId);
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.set('Location', returnTo);
  ctx.body = '';
}

// ---------------------------------------------------------------- test control
const TOKEN_MODES = ['normal', 'wrong_audience', 'alg_none', 'wrong_issuer', 'expired', 'bad_signature',
  'replay_nonce', 'token_error', 'server_error'];
let tokenMode = 'normal'; // one-shot: consumed by the next POST /token
let discoveryDown = false; // persistent until mode "normal"
let lastIdToken; // id_token of the previous successful token response (as minted)

const modeState = () => ({ mode: discoveryDown ? 'discovery_down' : tokenMode, token_mode: tokenMode, discovery_down: discoveryDown });

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

async function testControl(ctx) {
  if (ctx.method === 'GET') {
    ctx.body = modeState();
    return;
  }
  if (ctx.method !== 'POST') {
    ctx.status = 405;
    return;
  }
  let mode;
  try {
    ({ mode } = await readJson(ctx.req));
  } catch {
    mode = undefined;
  }
  if (mode === 'discovery_down') {
    discoveryDown = true;
  } else if (TOKEN_MODES.includes(mode)) {
    if (mode === 'normal') discoveryDown = false;
    tokenMode = mode;
  } else {
    ctx.status = 400;
    ctx.body = { error: `unknown mode ${JSON.stringify(mode)}`, modes: [...TOKEN_MODES, 'discovery_down'] };
    return;
  }
  log('test mode ->', JSON.stringify(modeState()));
  ctx.body = modeState();
}

const b64json = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

async function resign(idToken, changes) {
  const header = jose.decodeProtectedHeader(idToken);
  const payload = { ...jose.decodeJwt(idToken), ...changes };
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header) // same alg and kid as the original
    .sign(privateKey);
}

async function alterIdToken(mode, idToken) {
  const now = Math.floor(Date.now() / 1000);
  const [h, p, s] = idToken.split('.');
  switch (mode) {
    case 'wrong_audience': return resign(idToken, { aud: 'someone-else' });
    case 'wrong_issuer': return resign(idToken, { iss: 'http://evil.example' });
    case 'expired': return resign(idToken, { iat: now - 3660, exp: now - 3600 });
    case 'alg_none': return `${b64json({ alg: 'none', typ: 'JWT' })}.${p}.`;
    case 'bad_signature': return `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
    default: return idToken;
  }
}

async function tokenEndpoint(ctx, next) {
  const mode = tokenMode;
  tokenMode = 'normal';
  if (mode !== 'normal') log(`token endpoint: applying one-shot mode ${mode}`);
  if (mode === 'token_error') {
    ctx.status = 400;
    ctx.body = { error: 'invalid_grant', error_description: 'test' };
    return;
  }
  if (mode === 'server_error') {
    ctx.status = 500;
    ctx.type = 'text/plain';
    ctx.body = 'internal server error (test mode server_error)';
    return;
  }
  await next();
  const minted = ctx.status === 200 ? ctx.body?.id_token : undefined;
  if (!minted) return;
  if (mode === 'replay_nonce') {
    if (!lastIdToken) {
      ctx.status = 500;
      ctx.type = 'text/plain';
      ctx.body = 'replay_nonce: no previous id_token to replay';
      return;
    }
    ctx.body = { ...ctx.body, id_token: lastIdToken };
  } else {
    ctx.body = { ...ctx.body, id_token: await alterIdToken(mode, minted) };
  }
  lastIdToken = minted;
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode') return testControl(ctx);
  if (ctx.path === '/.well-known/openid-configuration' && discoveryDown) {
    ctx.status = 503;
    ctx.type = 'text/plain';
    ctx.body = 'discovery down (test mode)';
    return undefined;
  }
  if (ctx.method === 'GET' && /^\/interaction\/[^/]+$/.test(ctx.path)) {
    try {
      return await interaction(ctx);
    } catch (err) {
      log('interaction failed:', err);
      ctx.status = 400;
      ctx.body = { error: 'interaction_failed', error_description: String(err.message ?? err) };
      return undefined;
    }
  }
  if (ctx.method === 'POST' && ctx.path === '/token') return tokenEndpoint(ctx, next);
  return next();
});

handler = provider.callback();
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
log(`listening on ${issuer} with ${clients.length} client(s) and ${users.length} user(s)`);
