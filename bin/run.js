#!/usr/bin/env node
// One entry point for both names: `berth`, and `docker-machine` (a symlink or the second bin entry).
import {prepareInvocation} from '../dist/src/cli/invocation.js'
import {tryReadCommand} from '../dist/src/cli/fast.js'

const invocation = prepareInvocation(process.argv.slice(2), process.argv[1] ?? '', process.env)
Object.assign(process.env, invocation.env)
// The plain read commands autoscalers call most are answered without loading oclif (src/cli/fast.ts).
if (!(await tryReadCommand(invocation.argv, process.env))) {
  const {execute} = await import('@oclif/core')
  await execute({args: invocation.argv, dir: import.meta.url})
}
