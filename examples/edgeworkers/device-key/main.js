export function onClientRequest(request) {
  const ua = (request.getHeader('User-Agent') || [''])[0];
  const type = /Mobile|Android|iPhone/.test(ua) ? 'mobile' : 'desktop';
  request.setVariable('PMUSER_DEVICETYPE', type);
  request.cacheKey.includeVariable('PMUSER_DEVICETYPE');
  request.setHeader('X-Device-Type', type);
}
