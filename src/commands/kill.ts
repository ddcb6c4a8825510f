import {PowerCommand} from '../cli/power.js'

export default class Kill extends PowerCommand<typeof Kill> {
  static override summary = 'Stop machines forcefully.'
  protected readonly action = 'kill'
}
