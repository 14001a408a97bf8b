export function onClientRequest(request) {
  request.setHeader("X-Hello", "2");
}
