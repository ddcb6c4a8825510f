import {Args} from '@oclif/core'

/** docker-machine's convention: commands without a name act on the machine called "default". */
export const machineArg = Args.string({description: 'machine name', default: 'default'})
