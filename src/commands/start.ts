import {PowerCommand} from '../cli/power.js'

export default class Start extends PowerCommand<typeof Start> {
  static override summary = 'Start machines.'
  protected readonly action = 'start'
}
