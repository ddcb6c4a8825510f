/** Free ports on 127.0.0.1 for the VM drivers' port forwards (VirtualBox NAT rules, QEMU hostfwd). */
import {createServer} from 'node:net'

/** Ports handed out by this process: parallel creates in one command must not get the same one. */
const chosenPorts = new Set<number>()

/** A free port on 127.0.0.1, never one this process handed out before. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await ephemeralPort()
    if (chosenPorts.has(port)) continue
    chosenPorts.add(port)
    return port
  }
}

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}
