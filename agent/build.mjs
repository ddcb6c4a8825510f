// Bundles the agent to one ESM file that needs nothing but node:* at run time.
import {readFileSync} from 'node:fs'
import {build} from 'esbuild'

const {version} = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
await build({
  entryPoints: [new URL('src/main.ts', import.meta.url).pathname],
  outfile: new URL('../dist/agent/agent.mjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: false,
  legalComments: 'none',
  define: {AGENT_VERSION: JSON.stringify(version)},
  logLevel: 'warning',
})
