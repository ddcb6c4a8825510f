import {PowerCommand} from '../cli/power.js'

export default class Stop extends PowerCommand<typeof Stop> {
  static override summary = 'Stop machines gracefully.'
  protected readonly action = 'stop'
}
