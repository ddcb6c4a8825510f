import {Help, Interfaces} from '@oclif/core'

/**
 * oclif decides that a topic has children when another topic's name merely contains `NAME:`, so
 * `rm` was listed as a topic (`swarm:demote` contains `rm:`). A topic here is one that some
 * command id really starts with.
 */
export default class BerthHelp extends Help {
  protected override get sortedTopics(): Interfaces.Topic[] {
    return super.sortedTopics.filter((topic) => this.config.commands.some((command) => command.id.startsWith(`${topic.name}:`)))
  }
}
