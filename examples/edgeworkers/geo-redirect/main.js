import { mapping } from './countries.js';
import defaults from './defaults.json';

export function onClientRequest(request) {
  const country = (request.userLocation && request.userLocation.country) || defaults.country;
  const site = mapping[country];
  if (site && !request.path.startsWith('/' + site)) {
    request.respondWith(302, { Location: ['https://' + request.host + '/' + site + request.path] }, '');
  }
}
