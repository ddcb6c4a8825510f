import {it, expect} from 'vitest'
import {allDashboards} from '../../dashboards/src/index.js'
import {InfluxQuery, runPanelQueries} from '../../src/core/dashboards/harness.js'

const URL = 'http://127.0.0.1:8086'
const DB = 'berth_scratch_dash'

async function q(s: string) { const r = await fetch(`${URL}/query?q=${encodeURIComponent(s)}`, {method: 'POST'}); return r.json() }

it('runs every panel on synthetic data', async () => {
  await q(`DROP DATABASE ${DB}`); await q(`CREATE DATABASE ${DB}`)
  const now = Date.now() * 1e6
  const lines: string[] = []
  for (let i = 0; i < 30; i++) {
    const t = now - (30 - i) * 5e9
    for (const host of ['h1', 'h2']) {
      lines.push(`docker,host=${host},engine_host=${host} n_containers=3i,n_containers_running=2i,n_containers_stopped=1i,n_containers_paused=0i,n_images=2i,n_cpus=2i,memory_total=1000i ${t}`)
      lines.push(`cpu,host=${host},cpu=cpu-total usage_idle=80,usage_user=10,usage_system=5,usage_iowait=1,usage_steal=0 ${t}`)
      lines.push(`mem,host=${host} total=1000i,used=500i,cached=100i,available=400i,used_percent=50 ${t}`)
      lines.push(`system,host=${host} load1=0.5,load5=0.4,load15=0.3,n_cpus=2i,uptime=1000i ${t}`)
      lines.push(`berth_agent,host=${host},version=0.1.0 points_written=${i}i,points_spooled=0i,points_dropped=0i,points_rejected=0i,write_errors=0i,spool_bytes=0i,lag_ms=5i,last_error="",cpu_percent=1.5,rss_bytes=1000i ${t}`)
      for (const c of ['web', 'logger']) {
        const tags = `host=${host},container_name=${c},container_image=busybox,container_version=e2e,container_status=running`
        lines.push(`docker_container_cpu,${tags},cpu=cpu-total usage_percent=12.5,usage_total=${i * 1000}i,container_id="x" ${t}`)
        lines.push(`docker_container_mem,${tags} usage=${1000 + i}i,limit=2000i,container_id="x" ${t}`)
        lines.push(`docker_container_net,${tags},network=total rx_bytes=${i * 100}i,tx_bytes=${i * 50}i,container_id="x" ${t}`)
        lines.push(`docker_container_blkio,${tags},device=total io_service_bytes_recursive_read=${i * 10}i,io_service_bytes_recursive_write=${i * 20}i,container_id="x" ${t}`)
        lines.push(`docker_container_status,${tags} uptime_ns=${i * 1e9}i,restart_count=${Math.floor(i / 10)}i,exitcode=0i,oomkilled=false,container_id="x" ${t}`)
        lines.push(`docker_log,host=${host},container_name=${c},container_image=busybox,container_version=e2e,stream=${i % 2 ? 'stderr' : 'stdout'} message="line ${i}",container_id="x" ${t}`)
      }
      lines.push(`berth_event,host=${host},type=container,action=${['start', 'die', 'restart'][i % 3]},actor=web,image=busybox actor_id="x",exit_code=3i ${t}`)
      lines.push(`berth_event,host=${host},type=network,action=connect,actor=bridge actor_id="n" ${t}`)
    }
  }
  const w = await fetch(`${URL}/write?db=${DB}`, {method: 'POST', body: lines.join('\n')})
  expect(w.status, await w.text()).toBe(204)
  const results = await runPanelQueries(allDashboards() as never, new InfluxQuery(URL, DB), {range: {from: 'now-15m', to: 'now'}, minIntervalMs: 10_000})
  for (const r of results) if (r.error || r.rows === 0) console.log(r.dashboard, r.panel, r.refId, r.rows, r.error ?? '', '\n  ', r.query)
  console.log(results.length, 'queries')
  expect(results.filter((r) => r.error || r.rows === 0)).toEqual([])
  await q(`DROP DATABASE ${DB}`)
})
