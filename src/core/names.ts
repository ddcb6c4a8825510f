import {BerthError, ExitCode} from './errors.js'

const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9.-]*$/
/** A machine name becomes a hostname, so it is held to a DNS label's length. */
export const MAX_NAME_LENGTH = 63

export function validateMachineName(name: string): string {
  if (name.length === 0) throw new BerthError('machine name must not be empty', ExitCode.usage)
  if (name.length > MAX_NAME_LENGTH) {
    throw new BerthError(
      `machine name is ${name.length} characters long; the limit is ${MAX_NAME_LENGTH}`,
      ExitCode.usage,
    )
  }
  if (!NAME_PATTERN.test(name)) {
    const shown = JSON.stringify(name)
    throw new BerthError(
      `invalid machine name ${shown}: use letters, digits, dots and dashes, starting with a letter or digit`,
      ExitCode.usage,
    )
  }
  return name
}
