// Print per-category tables of http-cache-tests summaries and check a run
// against the committed baseline.
//   node table.mjs baseline.json                     print the baseline
//   node table.mjs baseline.json eg.json nginx.json  print this run, fail on regressions
//   node table.mjs --update baseline.json eg.json nginx.json [nginx-version]
//   node table.mjs --markdown baseline.json          per-category Markdown, edgegate beside nginx
import { readFileSync, writeFileSync } from 'node:fs'

const args = process.argv.slice(2)
const update = args[0] === '--update'
if (update) args.shift()
const markdown = args[0] === '--markdown'
if (markdown) args.shift()
const [baselineFile, egFile, nginxFile, nginxVersion] = args
const read = f => JSON.parse(readFileSync(f, 'utf8'))
const baseline = (() => { try { return read(baselineFile) } catch { return null } })()
const eg = egFile ? read(egFile) : baseline.edgegate
const nginx = nginxFile ? read(nginxFile) : baseline.nginx

const cols = [['pass', 'pass'], ['required_fail', 'req fail'], ['optional_fail', 'opt fail'], ['dependency_fail', 'dep fail'], ['setup_fail', 'setup'], ['yes', 'yes'], ['no', 'no']]
function table (name, s) {
  const rows = [['category', ...cols.map(c => c[1])]]
  for (const [cat, counts] of Object.entries(s.categories)) rows.push([cat, ...cols.map(c => String(counts[c[0]]))])
  rows.push(['TOTAL', ...cols.map(c => String(s.totals[c[0]]))])
  const w = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  console.log(`\n${name}`)
  for (const r of rows) console.log(r.map((c, i) => i === 0 ? c.padEnd(w[i]) : c.padStart(w[i])).join('  '))
}
// md prints one Markdown table: per category, edgegate's and nginx's
// pass / required fail / optional fail / check (yes/no) counts.
function md () {
  const cell = c => `${c.pass} / ${c.required_fail} / ${c.optional_fail} / ${c.yes}·${c.no}`
  const nv = `nginx ${(nginx && nginx.version) || ''}`.trim()
  console.log(`| category | edgegate | ${nv} |`)
  console.log('|---|---|---|')
  for (const cat of Object.keys(eg.categories)) {
    console.log(`| ${cat} | ${cell(eg.categories[cat])} | ${nginx ? cell(nginx.categories[cat]) : ''} |`)
  }
  console.log(`| **total** | **${cell(eg.totals)}** | **${nginx ? cell(nginx.totals) : ''}** |`)
  console.log('\nEach cell: pass / required fail / optional fail / check tests yes·no.')
}
if (markdown) {
  md()
  process.exit(0)
}

table('edgegate', eg)
if (nginx) table(`nginx ${nginx.version || ''}`.trim(), nginx)

if (update) {
  const out = {
    suite: 'http-cache-tests@0.4.5',
    note: 'Regenerate with e2e/cache-conformance/compare.sh --update. A test that passes here must keep passing; a check test that says yes here must keep saying yes.',
    edgegate: eg,
    nginx: { version: nginxVersion || (nginx && nginx.version) || '', ...nginx }
  }
  writeFileSync(baselineFile, JSON.stringify(out, null, 2) + '\n')
  console.log(`\nwrote ${baselineFile}`)
  process.exit(0)
}
if (egFile && baseline) {
  // A recorded pass must stay a pass, and a "check" test recorded yes must
  // stay yes (the behaviour it asks about is one edgegate chose).
  const regressions = Object.entries(baseline.edgegate.tests)
    .filter(([id, c]) => (c === 'pass' || c === 'yes') && eg.tests[id] !== c)
    .map(([id, c]) => `${id}: ${c} -> ${eg.tests[id] || 'missing'}`)
  const mustPass = Object.keys(eg.tests).filter(id => id === 'other-authorization' || id === 'cc-resp-private-shared' || id.startsWith('cc-resp-no-store'))
    .filter(id => eg.tests[id] !== 'pass').map(id => `${id}: ${eg.tests[id]} (must pass)`)
  const tooMany = eg.totals.required_fail > 10 ? [`${eg.totals.required_fail} required failures (at most 10)`] : []
  const bad = [...regressions, ...mustPass, ...tooMany]
  if (bad.length) {
    console.log(`\nedgegate regressed from ${baselineFile}:\n  ${bad.join('\n  ')}`)
    process.exit(1)
  }
  console.log(`\nedgegate: no regression from ${baselineFile}`)
}
