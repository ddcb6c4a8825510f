#!/usr/bin/env node
// One entry point for both names: `berth`, and `docker-machine` (a symlink or the second bin entry).
import {execute} from '@oclif/core'
import {prepareInvocation} from '../dist/src/cli/invocation.js'

const invocation = prepareInvocation(process.argv.slice(2), process.argv[1] ?? '', process.env)
Object.assign(process.env, invocation.env)
await execute({args: invocation.argv, dir: import.meta.url})
