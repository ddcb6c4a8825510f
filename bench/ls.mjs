// `ls` of 20 machines, 5 of them unreachable (a TCP listener on loopback that accepts and never
// answers, the worst case: no quick refusal), against checking the same machines one by one
// (docker-machine's old sequential way) in the same run. Goal: under the timeout plus 1 s.
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {berth, median, must, removeStore, tempStore} from './lib.mjs'

const timeout = Number(process.env.LS_TIMEOUT ?? 3)
const rounds = Number(process.env.ROUNDS ?? 3)
const store = await tempStore()
const sockets = []
const blackHole = createServer((socket) => sockets.push(socket))
await new Promise((r) => blackHole.listen(0, '127.0.0.1', r))
const port = blackHole.address().port

async function writeRecord(record) {
  const dir = join(store, 'machines', record.Name)
  await mkdir(dir, {recursive: true, mode: 0o700})
  await writeFile(join(dir, 'config.json'), JSON.stringify(record, null, 2), {mode: 0o600})
}

try {
  must(await berth(store, ['create', '-q', 'real']), 'create')
  const real = JSON.parse(await readFile(join(store, 'machines', 'real', 'config.json'), 'utf8'))
  // 14 more records of the real machine: 15 real TLS checks against a real engine.
  for (let i = 1; i < 15; i++) await writeRecord({...real, Name: `real-${i}`})
  for (let i = 0; i < 5; i++) {
    await writeRecord({
      ...real,
      Name: `dead-${i}`,
      DriverName: 'generic',
      Driver: {...real.Driver, IPAddress: '127.0.0.1', SSHPort: port},
      Berth: {...real.Berth, EnginePort: port},
    })
  }
  const names = (await berth(store, ['ls', '-q'])).stdout.split('\n').filter(Boolean)
  if (names.length !== 20) throw new Error(`expected 20 machines, found ${names.length}`)
  const parallel = []
  const sequential = []
  for (let round = 0; round < rounds; round++) {
    const ls = await berth(store, ['ls', '--json', '--timeout', String(timeout)])
    const rows = JSON.parse(ls.stdout)
    const running = rows.filter((r) => r.dockerVersion).length
    const timedOut = rows.filter((r) => /timed out/.test(r.error)).length
    if (running !== 15 || timedOut !== 5)
      throw new Error(`unexpected ls result: ${running} answered, ${timedOut} timed out`)
    parallel.push(ls.seconds)
    let total = 0
    for (const name of names)
      total += (
        await berth(store, ['ls', '--json', '--timeout', String(timeout), '--filter', `name=^${name}$`])
      ).seconds
    sequential.push(total)
  }
  console.log(
    JSON.stringify(
      {
        machines: 20,
        unreachable: 5,
        timeoutSeconds: timeout,
        rounds,
        lsSeconds: parallel,
        oneByOneSeconds: sequential,
        lsMedian: median(parallel),
        goalSeconds: timeout + 1,
        ratioOneByOneToLs: median(sequential) / median(parallel),
      },
      null,
      2,
    ),
  )
} finally {
  for (const s of sockets) s.destroy()
  blackHole.close()
  await berth(store, ['rm', '-y', 'real'])
  await removeStore(store)
}
