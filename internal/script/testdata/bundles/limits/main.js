import { logger } from 'log';
export function onClientRequest(request) {
  logger.log('mode %s', request.query);
  switch (request.query) {
    case 'loop': for (;;) {} // stopped at the CPU limit
    case 'alloc': { const keep = []; for (;;) keep.push(new Uint8Array(1 << 22)); }
    case 'throw': throw new Error('boom');
  }
  request.setHeader('X-Limits', 'ok');
}
