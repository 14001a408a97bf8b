// ES256 JWT check with crypto.subtle and pem2ab; the public key comes from
// PMUSER_JWT_PUBKEY, as in Akamai's examples.
import { crypto, pem2ab } from 'crypto';
import { base64url, TextEncoder } from 'encoding';
import { logger } from 'log';

async function verify(token, pem) {
  const [h, p, s] = token.split('.');
  if (!s) return null;
  const key = await crypto.subtle.importKey('spki', pem2ab(pem), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  const ok = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, base64url.decode(s), new TextEncoder().encode(h + '.' + p));
  if (!ok) return null;
  const claims = JSON.parse(base64url.decode(p, 'String'));
  if (claims.exp && claims.exp * 1000 < Date.now()) return null;
  return claims;
}

export async function onClientRequest(request) {
  const auth = request.getHeader('Authorization');
  const token = auth && auth[0].replace(/^Bearer /, '');
  const claims = token ? await verify(token, request.getVariable('PMUSER_JWT_PUBKEY')) : null;
  if (!claims) {
    logger.warn('rejected token');
    request.respondWith(401, { 'Content-Type': 'application/json' }, '{"error":"invalid token"}');
    return;
  }
  request.setHeader('X-JWT-Sub', claims.sub);
  request.removeHeader('Authorization');
}
