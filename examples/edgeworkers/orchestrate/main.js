// API orchestration: parallel relative sub-requests merged into one JSON.
import { httpRequest } from 'http-request';
import { createResponse } from 'create-response';

export async function responseProvider(request) {
  const [a, b] = await Promise.all([httpRequest('/data/a'), httpRequest('/data/b?x=1')]);
  if (request.getHeader('X-Fail')) throw new Error('asked to fail');
  const body = { a: await a.json(), b: (await b.json()).query, status: [a.status, b.status] };
  return createResponse(200, { 'Content-Type': ['application/json'] }, JSON.stringify(body));
}
