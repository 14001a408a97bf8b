// EdgeKV-backed redirects: the path (minus the leading "/") is the item
// key in namespace "redirects", group "paths"; the value is
// {"to": URL, "status": 301|302|...}. Every hit is counted in group
// "hits" without waiting for the write.
import { EdgeKV } from './edgekv.js';
import { logger } from 'log';

const redirects = new EdgeKV({ namespace: 'redirects', group: 'paths', num_retries_on_timeout: 1 });

function keyOf(path) {
  const k = path.replace(/^\/+/, '').replace(/[^A-Za-z0-9_-]/g, '_');
  return k || 'root';
}

export async function onClientRequest(request) {
  const item = keyOf(request.path);
  let rule;
  try {
    rule = await redirects.getJson({ item, default_value: null, timeout: 1000 });
  } catch (error) {
    // EdgeKV trouble must not break the site: serve the page.
    logger.error('edgekv lookup failed: %s', error.toString());
    request.setVariable('PMUSER_EKV_ERROR', String(error.status));
    return;
  }
  if (!rule) {
    logger.info('no redirect for %s', item);
    return;
  }
  const hits = Number(await redirects.getText({ group: 'hits', item, default_value: '0' })) + 1;
  await redirects.putText({ group: 'hits', item, value: String(hits) });
  logger.info('redirect %s -> %s (hit %d)', item, rule.to, hits);
  request.respondWith(rule.status || 302, { Location: [rule.to], 'X-Redirect-Hits': [String(hits)] }, '');
}
