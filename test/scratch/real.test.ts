import {it} from 'vitest'
import {allDashboards} from '../../dashboards/src/index.js'
import {InfluxQuery, runPanelQueries} from '../../src/core/dashboards/harness.js'
it('real', async () => {
  const results = await runPanelQueries(JSON.parse(JSON.stringify(allDashboards())), new InfluxQuery(process.env.URL ?? 'http://127.0.0.1:8086', process.env.DB ?? 'dash_dev'), {range: {from: 'now-10m', to: 'now'}, minIntervalMs: 2000})
  for (const r of results) if (r.error || r.rows === 0) console.log('EMPTY', r.dashboard, r.panel, r.refId, r.error ?? '', '\n  ', r.query)
  console.log(results.length, 'queries', results.filter((r) => r.error || r.rows === 0).length, 'empty')
})
