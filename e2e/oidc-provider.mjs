// e2e/oidc-provider.mjs: a real, OpenID-certified provider (the npm
// oidc-provider package) for edgegate's tests, on loopback, with its own
// generated keys and a way to rotate them during a test.
//
// Usage: node e2e/oidc-provider.mjs [--port N] [--admin-port N] [--alg RS256|ES256]
//          [--audience api://edgegate] [--ttl 300] [--redirect-uri URL]... [--post-logout-uri URL]...
// Every flag also reads an environment variable: OP_PORT, OP_ADMIN_PORT,
// OP_ALG, OP_AUDIENCE, OP_TTL, OP_REDIRECT_URIS and OP_POST_LOGOUT_URIS
// (comma-separated). Port 0 (the default) picks a free port.
//
// When listening it prints one JSON line to stdout:
//   {"issuer":"http://127.0.0.1:P","admin":"http://127.0.0.1:A","kid":"..."}
//
// Clients:
//   svc / svc-secret      client_credentials (client_secret_basic or _post);
//                         access tokens are JWTs for --audience, scope api:read api:write
//   web / web-secret      authorization code + PKCE + refresh_token, redirect URIs from argv
//   web-public            the same as a public client (PKCE only)
// Users (dev interactions: any password): alice (groups eng, admins), bob (group sales).
//
// Admin endpoints (on the admin port, loopback only):
//   POST /rotate   add a new signing key in front; new tokens use it, the old one stays published
//   POST /retire   unpublish every key but the current one
//   GET  /state    {"issuer","current","kids"}
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import Provider from 'oidc-provider';

function flags(argv) {
  const out = {};
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const name = a.slice(2);
    const val = argv[++i];
    if (val === undefined) throw new Error(`${a} needs a value`);
    (out[name] ??= []).push(val);
  }
  return out;
}

const f = flags(process.argv);
const one = (name, env, def) => (f[name]?.[0] ?? process.env[env] ?? def);
const many = (name, env) => [...(f[name] ?? []), ...((process.env[env] ?? '').split(',').filter(Boolean))];

const port = Number(one('port', 'OP_PORT', '0'));
const adminPort = Number(one('admin-port', 'OP_ADMIN_PORT', '0'));
const alg = one('alg', 'OP_ALG', 'RS256');
const audience = one('audience', 'OP_AUDIENCE', 'api://edgegate');
const ttl = Number(one('ttl', 'OP_TTL', '300'));
const redirectUris = many('redirect-uri', 'OP_REDIRECT_URIS');
const postLogoutUris = many('post-logout-uri', 'OP_POST_LOGOUT_URIS');
if (!['RS256', 'ES256'].includes(alg)) throw new Error(`--alg must be RS256 or ES256, got ${alg}`);

function newKey() {
  const { privateKey } = alg === 'RS256'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg, use: 'sig' };
}

const accounts = {
  alice: { email: 'alice@example.com', name: 'Alice Example', groups: ['eng', 'admins'] },
  bob: { email: 'bob@example.com', name: 'Bob Example', groups: ['sales'] },
};

let keys = [newKey()];
const cookieKeys = [crypto.randomBytes(32).toString('hex')];

// Listen first: the issuer URL must carry the real port.
const server = http.createServer((req, res) => handler(req, res));
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

function build() {
  const clients = [
    {
      client_id: 'svc', client_secret: 'svc-secret', grant_types: ['client_credentials'],
      response_types: [], redirect_uris: [], scope: 'api:read api:write',
    },
  ];
  if (redirectUris.length > 0) {
    const web = {
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutUris,
      id_token_signed_response_alg: alg,
    };
    clients.push({ ...web, client_id: 'web', client_secret: 'web-secret' });
    clients.push({ ...web, client_id: 'web-public', token_endpoint_auth_method: 'none' });
  }
  const current = keys[0].kid;
  const p = new Provider(issuer, {
    clients,
    jwks: { keys },
    cookies: { keys: cookieKeys },
    clientDefaults: { id_token_signed_response_alg: alg },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api:read', 'api:write'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    findAccount: (ctx, id) => {
      const a = accounts[id];
      if (!a) return undefined;
      return {
        accountId: id,
        claims: () => ({ sub: id, email: a.email, email_verified: true, name: a.name, groups: a.groups }),
      };
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api:read api:write',
          audience,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg, kid: current } },
        }),
      },
    },
    ttl: { AccessToken: ttl, ClientCredentials: ttl, IdToken: ttl, Session: 3600, Grant: 3600, Interaction: 600, RefreshToken: 3600 },
    pkce: { required: () => true },
    // Tokens carry the groups claim for policy tests.
    extraTokenClaims: async (ctx, token) => {
      const a = token.accountId ? accounts[token.accountId] : undefined;
      return a ? { email: a.email, groups: a.groups } : undefined;
    },
  });
  p.on('server_error', (ctx, err) => console.error('oidc-provider server_error', err));
  return p;
}

let handler = build().callback();
const rebuild = () => { handler = build().callback(); };

const admin = http.createServer((req, res) => {
  const send = (code, body) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const state = () => ({ issuer, current: keys[0].kid, kids: keys.map((k) => k.kid) });
  if (req.method === 'POST' && req.url === '/rotate') {
    keys = [newKey(), ...keys];
    rebuild();
    return send(200, state());
  }
  if (req.method === 'POST' && req.url === '/retire') {
    keys = [keys[0]];
    rebuild();
    return send(200, state());
  }
  if (req.method === 'GET' && req.url === '/state') return send(200, state());
  return send(404, { error: 'not found' });
});
await new Promise((resolve) => admin.listen(adminPort, '127.0.0.1', resolve));

process.stdout.write(`${JSON.stringify({ issuer, admin: `http://127.0.0.1:${admin.address().port}`, kid: keys[0].kid })}\n`);

const stop = () => { server.close(); admin.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
