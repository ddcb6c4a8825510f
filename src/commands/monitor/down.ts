import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../cli/base.js'
import {monitorDown} from '../../core/monitor/monitor.js'

export default class MonitorDown extends BaseCommand<typeof MonitorDown> {
  static override summary = 'Remove the InfluxDB and Grafana containers `monitor up` started on a machine.'
  static override description =
    'Their data volumes stay unless --volumes; agents pointed at this InfluxDB spool until it is back.'
  static override args = {name: Args.string({description: 'machine running the stack', required: true})}
  static override flags = {
    volumes: Flags.boolean({summary: 'Remove the data volumes too (all metrics, events and logs).'}),
    json: Flags.boolean({summary: 'Print what was removed as JSON.'}),
  }

  async run(): Promise<void> {
    const outcome = await monitorDown(
      this.store,
      this.args.name,
      {volumes: this.flags.volumes},
      {step: () => {}},
    )
    if (this.flags.json) this.printJson(outcome)
    else
      this.log(
        outcome.removed.length
          ? `Removed ${outcome.removed.join(', ')}`
          : `Nothing of the monitoring stack runs on ${this.args.name}`,
      )
  }
}
