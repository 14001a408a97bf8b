export function onClientRequest(request) {
  request.setHeader("X", ;
}
