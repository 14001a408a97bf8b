// login-op.mjs: the npm oidc-provider (OpenID Certified) as a real provider
// for edgegate's browser login tests.
// Usage: node login-op.mjs <port> <gateway-base-url>
// Prints "ready <issuer>" when listening. POST /__test/rotate makes a new
// signing key (the old one stays published) without losing grants: every
// Provider made here shares one in-memory store (SharedAdapter).
import Provider from 'oidc-provider';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

const [port, gateway] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'op-' + randomUUID().slice(0, 8), use: 'sig', alg: 'RS256' };
}

const users = {
  alice: { email: 'alice@example.com', groups: ['dev', 'admins'] },
  carol: { email: 'carol@example.com', groups: ['ops'] },
};

// SharedAdapter is a minimal in-memory oidc-provider adapter over one Map
// for the whole process, so a provider rebuilt with new keys keeps every
// grant, session and refresh token.
const store = new Map();
class SharedAdapter {
  constructor(name) { this.name = name; }
  key(id) { return `${this.name}:${id}`; }
  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
    if (payload.grantId) {
      const g = `grant:${payload.grantId}`;
      store.set(g, [...(store.get(g) || []), this.key(id)]);
    }
    if (payload.uid) store.set(`uid:${this.name}:${payload.uid}`, id);
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, id);
  }
  async find(id) {
    const e = store.get(this.key(id));
    if (!e || (e.exp && e.exp < Date.now())) return undefined;
    return e.payload;
  }
  async findByUid(uid) { const id = store.get(`uid:${this.name}:${uid}`); return id && this.find(id); }
  async findByUserCode(code) { const id = store.get(`userCode:${code}`); return id && this.find(id); }
  async consume(id) { const e = store.get(this.key(id)); if (e) e.payload.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const k of store.get(`grant:${grantId}`) || []) store.delete(k);
    store.delete(`grant:${grantId}`);
  }
}

function configuration(keys) {
  return {
    adapter: SharedAdapter,
    clients: [{
      client_id: 'edgegate',
      client_secret: 'op-secret',
      redirect_uris: [`${gateway}/.edgegate/callback`],
      post_logout_redirect_uris: [`${gateway}/`],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }],
    jwks: { keys },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    ttl: { AccessToken: 3, IdToken: 3, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    async findAccount(ctx, id) {
      const u = users[id] || { email: `${id}@example.com`, groups: [] };
      return {
        accountId: id,
        async claims() { return { sub: id, email: u.email, email_verified: true, name: id, groups: u.groups }; },
      };
    },
  };
}

function newProvider(keys) {
  const p = new Provider(issuer, configuration(keys));
  p.on('grant.error', (ctx, err) => console.error('oidc-provider grant.error:', err.message, err.error_detail || ''));
  return p;
}

let keys = [newKey()];
let provider = newProvider(keys);
const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/__test/rotate') {
    keys = [newKey(), keys[0]];
    provider = newProvider(keys);
    res.end(JSON.stringify({ kid: keys[0].kid }));
    return;
  }
  provider.callback()(req, res);
});
server.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
