// Streaming find-and-replace: the page comes from a sub-request, flows
// through TextDecoderStream → a find/replace TransformStream →
// TextEncoderStream and is sent as it is produced. PMUSER_FIND and
// PMUSER_REPLACE come from the route's variables. A match split across
// two chunks is kept by holding back the last (find.length - 1)
// characters of each chunk.
import { httpRequest } from 'http-request';
import { createResponse } from 'create-response';
import { TransformStream } from 'streams';
import { TextEncoderStream, TextDecoderStream } from 'text-encode-transform';
import { logger } from 'log';

class FindAndReplace extends TransformStream {
  constructor(find, replace, failAfter) {
    let tail = '';
    let chunks = 0;
    super({
      transform(chunk, controller) {
        chunks++;
        if (failAfter && chunks >= failAfter) throw new Error('find-replace failed on chunk ' + chunks);
        const text = (tail + chunk).replaceAll(find, replace);
        const keep = Math.min(find.length - 1, text.length);
        tail = text.slice(text.length - keep);
        controller.enqueue(text.slice(0, text.length - keep));
      },
      flush(controller) {
        if (tail) controller.enqueue(tail);
      },
    });
  }
}

export async function responseProvider(request) {
  const path = request.path.replace(/^\/[^/]+/, '/data');
  const upstream = await httpRequest(path, { headers: { Accept: ['application/json'] } });
  const find = request.getVariable('PMUSER_FIND') || 'cat';
  const replace = request.getVariable('PMUSER_REPLACE') || 'dog';
  const failAfter = Number(request.getHeader('X-Fail-After')?.[0] || 0);
  logger.info('rewriting %s: %s -> %s', path, find, replace);
  const headers = { 'Content-Type': upstream.getHeader('Content-Type') || ['text/plain'], 'X-Rewritten': ['true'] };
  return createResponse(upstream.status, headers,
    upstream.body
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(new FindAndReplace(find, replace, failAfter))
      .pipeThrough(new TextEncoderStream()));
}
