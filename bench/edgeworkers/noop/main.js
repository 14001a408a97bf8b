export function onClientRequest(request) {}
