// A/B test: bucket from a cookie (or a new one), passed to the origin as a
// query argument, the cookie echoed in onClientResponse.
import { Cookies, SetCookie } from 'cookies';
import URLSearchParams from 'url-search-params';

export function onClientRequest(request) {
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

export function onClientResponse(request, response) {
  if (request.getVariable('PMUSER_AB_NEW') === 'true') {
    response.addHeader('Set-Cookie', new SetCookie({ name: 'ab', value: request.getVariable('PMUSER_AB'), path: '/', maxAge: 3600 }).toHeader());
  }
  response.setHeader('X-AB', request.getVariable('PMUSER_AB'));
}
