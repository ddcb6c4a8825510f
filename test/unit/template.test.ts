import {describe, expect, it} from 'vitest'
import {BerthError} from '../../src/core/errors.js'
import {renderTemplate} from '../../src/core/template.js'

const record = {
  Name: 'dev',
  DriverName: 'container',
  Driver: {IPAddress: '10.0.0.5', SSHPort: 22, Nothing: null},
  HostOptions: {EngineOptions: {Labels: ['env=prod', 'team=a'], Empty: [] as string[]}, Auth: {TlsVerify: true}},
}

function usageError(template: string): BerthError {
  let output: string
  try {
    output = renderTemplate(template, record)
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError)
    return err as BerthError
  }
  throw new Error(`expected ${template} to fail, but it rendered ${JSON.stringify(output)}`)
}

describe('renderTemplate', () => {
  it('resolves nested fields', () => {
    expect(renderTemplate('{{.Driver.IPAddress}}', record)).toBe('10.0.0.5')
    expect(renderTemplate('{{.Name}}', record)).toBe('dev')
  })

  it('keeps literal text around actions and renders several actions', () => {
    expect(renderTemplate('tcp://{{.Driver.IPAddress}}:{{.Driver.SSHPort}}/x', record)).toBe('tcp://10.0.0.5:22/x')
  })

  it('tolerates spaces and trim markers inside braces', () => {
    expect(renderTemplate('{{ .Name }}', record)).toBe('dev')
    expect(renderTemplate('{{- .Name -}}', record)).toBe('dev')
  })

  it('{{json .X}} prints JSON of any value', () => {
    expect(JSON.parse(renderTemplate('{{json .HostOptions}}', record))).toEqual(record.HostOptions)
    expect(renderTemplate('{{json .Name}}', record)).toBe('"dev"')
    expect(renderTemplate('{{json .HostOptions.EngineOptions.Labels}}', record)).toBe('["env=prod","team=a"]')
    expect(renderTemplate('{{json .Driver.Nothing}}', record)).toBe('null')
  })

  it('arrays print Go-style, space separated in brackets', () => {
    expect(renderTemplate('{{.HostOptions.EngineOptions.Labels}}', record)).toBe('[env=prod team=a]')
    expect(renderTemplate('{{.HostOptions.EngineOptions.Empty}}', record)).toBe('[]')
  })

  it('objects print as map[...], booleans and numbers as text, null as <no value>', () => {
    expect(renderTemplate('{{.HostOptions.Auth}}', record)).toBe('map[TlsVerify:true]')
    expect(renderTemplate('{{.Driver.SSHPort}}', record)).toBe('22')
    expect(renderTemplate('{{.Driver.Nothing}}', record)).toBe('<no value>')
  })

  it('{{.}} is the whole value', () => {
    expect(renderTemplate('{{.}}', 'plain')).toBe('plain')
    expect(JSON.parse(renderTemplate('{{json .}}', record))).toEqual(record)
  })

  it('turns literal \\t and \\n (as a shell passes them) into tab and newline', () => {
    expect(renderTemplate('{{.Name}}\\t{{.DriverName}}\\n', record)).toBe('dev\tcontainer\n')
  })

  it('text without actions passes through unchanged', () => {
    expect(renderTemplate('no actions here', record)).toBe('no actions here')
  })

  it('a missing field is a usage error (exit 2) naming the field', () => {
    const err = usageError('{{.Driver.Nope}}')
    expect(err.exitCode).toBe(2)
    expect(err.message).toContain('"Nope"')
    expect(err.message).not.toContain('\n')
  })

  it('descending into a non-object is a missing field too', () => {
    expect(usageError('{{.Name.Length}}').message).toContain('"Length"')
    expect(usageError('{{.Driver.Nothing.X}}').exitCode).toBe(2)
  })

  it('does not resolve inherited (prototype) properties as fields', () => {
    expect(usageError('{{.Name.toString}}').exitCode).toBe(2)
    // An object's prototype members are not fields of the record: Go templates would fail here too.
    expect(usageError('{{.Driver.constructor}}').message).toContain('"constructor"')
    expect(usageError('{{.Driver.hasOwnProperty}}').exitCode).toBe(2)
  })

  it('unsupported actions are usage errors naming the action', () => {
    for (const action of ['range .Labels', 'if .Name', 'Name', '.Name | printf', 'json', 'upper .Name', '.a-b']) {
      const err = usageError(`{{${action}}}`)
      expect(err.exitCode, action).toBe(2)
      expect(err.message, action).toContain('unsupported action')
      expect(err.message, action).toContain(action)
    }
  })
})
