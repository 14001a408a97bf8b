// The bundle `edgegate dev` runs on /ew/ (embedded in the binary; see
// docs/edgeworkers.md). Three EdgeWorkers classics in one onClientRequest:
//
//   /ew/jwt/...   RS256 JWT check with crypto.subtle: the token of the dev
//                 provider (`edgegate token --user alice`), verified against
//                 the provider's JWKS, fetched with httpRequest through the
//                 gateway (/ew/keys) and kept per engine instance.
//   /ew/promo ... redirects from a table bundled as JSON (302).
//   /ew/ab/...    A/B bucket from the "ab" cookie (or a new one, set in
//                 onClientResponse), passed to the origin as ?variant=.
import { crypto } from 'crypto';
import { base64url, TextEncoder } from 'encoding';
import { httpRequest } from 'http-request';
import { Cookies, SetCookie } from 'cookies';
import URLSearchParams from 'url-search-params';
import { logger } from 'log';
import redirects from './redirects.json';

// Public keys by kid. A module global is a per-instance cache, never
// per-request state (handlers of one request may run in other instances).
let keys = {};

async function key(kid) {
  if (!keys[kid]) {
    const resp = await httpRequest('/ew/keys');
    if (!resp.ok) throw new Error('JWKS: status ' + resp.status);
    const next = {};
    for (const jwk of (await resp.json()).keys || []) {
      if (jwk.kty === 'RSA') {
        next[jwk.kid] = await crypto.subtle.importKey('jwk', { kty: 'RSA', n: jwk.n, e: jwk.e }, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
      }
    }
    keys = next;
  }
  return keys[kid];
}

async function verify(request, token) {
  const [h, p, s] = token.split('.');
  if (!s) return [null, 'malformed token'];
  const header = JSON.parse(base64url.decode(h, 'String'));
  if (header.alg !== 'RS256') return [null, 'unexpected alg ' + header.alg];
  const k = await key(header.kid);
  if (!k) return [null, 'unknown key ' + header.kid];
  const ok = await crypto.subtle.verify('RSASSA-PKCS1-v1_5', k, base64url.decode(s), new TextEncoder().encode(h + '.' + p));
  if (!ok) return [null, 'bad signature'];
  const claims = JSON.parse(base64url.decode(p, 'String'));
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number' || claims.exp < now) return [null, 'expired'];
  if (claims.iss !== request.getVariable('PMUSER_JWT_ISSUER')) return [null, 'wrong issuer'];
  const aud = [].concat(claims.aud || []);
  if (!aud.includes(request.getVariable('PMUSER_JWT_AUDIENCE'))) return [null, 'wrong audience'];
  return [claims, ''];
}

async function jwtCheck(request) {
  const auth = request.getHeader('Authorization');
  const m = auth && /^Bearer (.+)$/.exec(auth[0]);
  const [claims, why] = m ? await verify(request, m[1]) : [null, 'no bearer token'];
  if (!claims) {
    logger.warn('jwt refused: %s', why);
    request.respondWith(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Bearer' }, JSON.stringify({ error: 'invalid_token', reason: why }));
    return;
  }
  logger.info('jwt ok for %s', claims.sub);
  request.setHeader('X-JWT-Sub', claims.sub);
  request.setHeader('X-JWT-Email', claims.email || '');
}

function abTest(request) {
  const cookies = new Cookies(request.getHeader('Cookie'));
  let bucket = cookies.get('ab');
  if (bucket !== 'a' && bucket !== 'b') {
    bucket = Math.random() < 0.5 ? 'a' : 'b';
    request.setVariable('PMUSER_AB_NEW', 'true');
  }
  request.setVariable('PMUSER_AB', bucket);
  const params = new URLSearchParams(request.query);
  params.set('variant', bucket);
  request.route({ query: params.toString() });
}

export async function onClientRequest(request) {
  const to = redirects[request.path];
  if (to) {
    request.respondWith(302, { Location: to }, '');
    return;
  }
  if (request.path.startsWith('/ew/jwt/')) return jwtCheck(request);
  if (request.path.startsWith('/ew/ab/')) return abTest(request);
}

export function onClientResponse(request, response) {
  const bucket = request.getVariable('PMUSER_AB');
  if (!bucket) return;
  response.setHeader('X-AB', bucket);
  if (request.getVariable('PMUSER_AB_NEW') === 'true') {
    response.addHeader('Set-Cookie', new SetCookie({ name: 'ab', value: bucket, path: '/ew/', maxAge: 3600 }).toHeader());
  }
}
