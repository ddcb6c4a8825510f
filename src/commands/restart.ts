import {PowerCommand} from '../cli/power.js'

export default class Restart extends PowerCommand<typeof Restart> {
  static override summary = 'Restart machines.'
  protected readonly action = 'restart'
}
