// What a typical header-rewriting EdgeWorker does on both sides.
export function onClientRequest(request) {
  request.setHeader('X-Edge-Country', (request.userLocation && request.userLocation.country) || 'unknown');
  request.removeHeader('X-Internal');
  const ua = request.getHeader('User-Agent');
  request.setHeader('X-Client-Class', ua && /Mobile/.test(ua[0]) ? 'mobile' : 'desktop');
}

export function onClientResponse(request, response) {
  response.setHeader('Strict-Transport-Security', 'max-age=63072000');
  response.setHeader('X-Served-By', 'edgegate');
  response.removeHeader('Server');
}
