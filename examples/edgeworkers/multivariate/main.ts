// Multivariate routing to named origins, in TypeScript.
interface Rule { prefix: string; origin: string }
const rules: Rule[] = [{ prefix: '/mv/api/', origin: 'microservice1' }];

export function onClientRequest(request: any): void {
  const rule = rules.find((r) => request.path.startsWith(r.prefix));
  if (rule) {
    request.route({ origin: rule.origin, path: request.path.replace('/mv/api', '/v2') });
  }
}
