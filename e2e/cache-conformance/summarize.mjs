// Summarize http-cache-tests results per suite, the way the suite's own
// report classifies them (lib/display.mjs determineTestResult).
//   node summarize.mjs results.json > summary.json
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const pkg = dirname(require.resolve('http-cache-tests/package.json'))
const { default: suites } = await import(join(pkg, 'tests/index.mjs'))
const { default: surrogate } = await import(join(pkg, 'tests/surrogate-control.mjs'))
suites.push(surrogate)

const results = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const byId = new Map()
for (const s of suites) for (const t of s.tests) byId.set(t.id, t)

const pass = new Set(['pass', 'yes'])
function classify (id, deps = true) {
  const test = byId.get(id)
  const r = results[id]
  if (r === undefined) return 'untested'
  if (deps && test.depends_on) {
    for (const d of test.depends_on) {
      if (!pass.has(classify(d))) return 'dependency_fail'
    }
  }
  if (Array.isArray(r) && r[0] === 'Setup') return r[1] === 'retry' ? 'retry' : 'setup_fail'
  const kind = test.kind || 'required'
  if (kind === 'required') return r === true ? 'pass' : 'required_fail'
  if (kind === 'optimal') return r === true ? 'pass' : 'optional_fail'
  return r === true ? 'yes' : 'no'
}

const kinds = ['pass', 'required_fail', 'optional_fail', 'dependency_fail', 'setup_fail', 'retry', 'yes', 'no', 'untested']
const out = { totals: Object.fromEntries(kinds.map(k => [k, 0])), categories: {}, tests: {} }
for (const s of suites) {
  const cat = out.categories[s.id] = Object.fromEntries(kinds.map(k => [k, 0]))
  for (const t of s.tests) {
    const c = classify(t.id)
    cat[c]++
    out.totals[c]++
    out.tests[t.id] = c
  }
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n')
