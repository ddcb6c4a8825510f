// Swarm bootstrap: from five fresh machines to a converged five-node swarm (three managers, two
// workers, every node Ready), with berth's swarm commands against the same steps done by hand
// (`berth ssh NAME -- docker swarm ...`, node by node, sequential) in the same run, on the same
// machines (reset with `swarm leave --force` between runs, untimed). Rounds alternate the order.
import {berth, median, must, removeStore, tempStore} from './lib.mjs'

const rounds = Number(process.env.ROUNDS ?? 2)
const store = await tempStore()
const names = [0, 1, 2, 3, 4].map((i) => `sw${i}`)
const [first, ...rest] = names

/** True once the swarm seen through `manager` has five Ready nodes, one leader and two reachable managers. */
async function converged(manager) {
  const ls = await berth(store, [
    'ssh',
    manager,
    '--',
    'docker',
    'node',
    'ls',
    '--format',
    '{{.Status}}/{{.ManagerStatus}}',
  ])
  if (ls.code !== 0) return false
  const lines = ls.stdout.trim().split('\n').filter(Boolean)
  return (
    lines.length === 5 &&
    lines.every((l) => l.startsWith('Ready/')) &&
    lines.filter((l) => l === 'Ready/Leader').length === 1 &&
    lines.filter((l) => l === 'Ready/Reachable').length === 2
  )
}

async function waitConverged(manager) {
  const deadline = Date.now() + 120_000
  while (!(await converged(manager))) {
    if (Date.now() > deadline) throw new Error('swarm did not converge within 120s')
    await new Promise((r) => setTimeout(r, 250))
  }
}

async function withBerth() {
  const started = performance.now()
  must(await berth(store, ['swarm', 'init', first]), 'swarm init')
  must(await berth(store, ['swarm', 'join', '-q', '--to', first, ...rest]), 'swarm join')
  must(await berth(store, ['swarm', 'promote', '-q', rest[0], rest[1]]), 'swarm promote')
  await waitConverged(first)
  return (performance.now() - started) / 1000
}

async function byHand() {
  const started = performance.now()
  const ssh = async (name, ...command) =>
    must(await berth(store, ['ssh', name, '--', ...command]), `${name}: ${command.join(' ')}`).stdout.trim()
  const ip = must(await berth(store, ['ip', first]), 'ip').stdout.trim()
  await ssh(first, 'docker', 'swarm', 'init', '--advertise-addr', ip)
  const token = await ssh(first, 'docker', 'swarm', 'join-token', '-q', 'worker')
  for (const name of rest) await ssh(name, 'docker', 'swarm', 'join', '--token', token, `${ip}:2377`)
  await ssh(first, 'docker', 'node', 'promote', rest[0], rest[1])
  await waitConverged(first)
  return (performance.now() - started) / 1000
}

async function reset() {
  // Workers first, then managers, so no leave waits on a quorum that is going away.
  for (const group of [rest.slice(2), rest.slice(0, 2), [first]]) {
    await Promise.all(
      group.map((name) => berth(store, ['ssh', name, '--', 'docker', 'swarm', 'leave', '--force'])),
    )
  }
}

const timings = {berth: [], byHand: []}
try {
  const created = must(await berth(store, ['create', '-q', '--json', ...names]), 'create of five')
  const createSeconds = created.seconds
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['berth', 'byHand'] : ['byHand', 'berth']
    for (const way of order) {
      timings[way].push(way === 'berth' ? await withBerth() : await byHand())
      await reset()
    }
  }
  console.log(
    JSON.stringify(
      {
        rounds,
        createFiveSeconds: Math.round(createSeconds * 10) / 10,
        berthSeconds: timings.berth.map((s) => Math.round(s * 100) / 100),
        byHandSeconds: timings.byHand.map((s) => Math.round(s * 100) / 100),
        berthCommands: 3,
        byHandCommands: 4 + rest.length,
        speedupMedian: Math.round((median(timings.byHand) / median(timings.berth)) * 100) / 100,
      },
      null,
      2,
    ),
  )
} finally {
  const left = (await berth(store, ['ls', '-q'])).stdout.split('\n').filter(Boolean)
  if (left.length > 0) await berth(store, ['rm', '-f', ...left])
  await removeStore(store)
}
