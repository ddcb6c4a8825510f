import {describe, expect, it} from 'vitest'
import {BerthError} from '../../src/core/errors.js'
import {expandLsEscapes, goFloat, goSprintf, renderTemplate} from '../../src/core/template.js'

const record = {
  Name: 'dev',
  DriverName: 'container',
  Driver: {IPAddress: '10.0.0.5', SSHPort: 22, Nothing: null},
  HostOptions: {
    EngineOptions: {Labels: ['env=prod', 'team=a'], Empty: [] as string[]},
    Auth: {TlsVerify: true},
  },
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
    expect(renderTemplate('tcp://{{.Driver.IPAddress}}:{{.Driver.SSHPort}}/x', record)).toBe(
      'tcp://10.0.0.5:22/x',
    )
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

  it('ls turns literal \\t and \\n (as a shell passes them) into tab and newline (commands/ls.go: parseFormat)', () => {
    expect(renderTemplate(expandLsEscapes('{{.Name}}\\t{{.DriverName}}\\n'), record)).toBe('dev\tcontainer\n')
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

  it('descending into a non-object is an error, as in Go', () => {
    expect(usageError('{{.Name.Length}}').message).toContain("can't evaluate field Length in type string")
    expect(usageError('{{.Driver.Nothing.X}}').exitCode).toBe(2)
  })

  it('does not resolve inherited (prototype) properties as fields', () => {
    expect(usageError('{{.Name.toString}}').exitCode).toBe(2)
    expect(usageError('{{.Driver.constructor}}').message).toContain('"constructor"')
    expect(usageError('{{.Driver.hasOwnProperty}}').exitCode).toBe(2)
  })
})

/** Expected outputs are what Go 1.x's text/template prints for the same template on the same JSON-decoded data. */
describe('Go text/template', () => {
  const data = {
    Name: 'dev',
    Driver: {
      IPAddress: '10.0.0.5',
      CPU: 2,
      Memory: 1024,
      Disk: 1000000,
      Ratio: 0.5,
      Big: 123456789,
      Nothing: null,
    },
    Labels: ['env=prod', 'team=a'],
    Tags: {b: 2, a: 1},
    On: true,
    Empty: '',
    None: [] as string[],
    Nested: [[1, 2], {k: null}],
  }
  const go = (template: string, options = {}) => renderTemplate(template, data, options)

  it("docker-machine's functions: json, prettyjson (4-space indent); docker's split, join, title, lower, upper", () => {
    expect(go('{{json .Labels}}')).toBe('["env=prod","team=a"]')
    expect(go('{{prettyjson .Tags}}')).toBe('{\n    "b": 2,\n    "a": 1\n}')
    expect(go('{{split .Driver.IPAddress "."}}')).toBe('[10 0 0 5]')
    expect(go('{{join .Labels ","}}')).toBe('env=prod,team=a')
    expect(go('{{title "hello wide world"}} {{upper .Name}} {{lower "ABC"}}')).toBe(
      'Hello Wide World DEV abc',
    )
    expect(go('{{index (split .Driver.IPAddress ".") 3}}')).toBe('5')
  })

  it('index, len, printf, print, println', () => {
    expect(go('{{index .Labels 1}} {{index .Tags "a"}} {{index .Nested 0 1}}')).toBe('team=a 1 2')
    expect(go('{{len .Labels}} {{len .Tags}} {{len .Name}} {{len .None}}')).toBe('2 2 3 0')
    expect(go('{{printf "%s:%d" .Driver.IPAddress 2376}}')).toBe('10.0.0.5:2376')
    expect(
      go('{{printf "%-5s|%5s|%q|%v|%t|%.2f|%x|%05d" "a" "b" .Name .Labels .On .Driver.Ratio 255 42}}'),
    ).toBe('a    |    b|"dev"|[env=prod team=a]|true|0.50|ff|00042')
    expect(go('{{printf "%d" .Name}}')).toBe('%!d(string=dev)')
    expect(go('{{printf "%s"}}')).toBe('%!s(MISSING)')
    expect(go('{{print "a" 1 2 "b"}}')).toBe('a1 2b')
    expect(go('{{println .Name .On}}')).toBe('dev true\n')
  })

  it('comparisons and logic', () => {
    expect(
      go(
        '{{eq .Name "dev"}} {{eq .Name "x" "dev"}} {{ne .Driver.CPU 2.0}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 3}}',
      ),
    ).toBe('true true false true true true false')
    expect(
      go('{{and .On .Name}} {{and .Empty .Name}} {{or .Empty "fallback"}} {{not .On}} {{not .None}}'),
    ).toBe('dev  fallback false true')
    expect(() => go('{{lt .Name 1}}')).toThrow(/incompatible types for comparison/)
    expect(() => go('{{eq .Labels .Labels}}')).toThrow(/invalid type for comparison/)
  })

  it('if / else if / else, with / else, range / else, over lists and maps (sorted keys)', () => {
    expect(go('{{if .On}}yes{{else}}no{{end}} {{if .Empty}}a{{else if .Name}}b{{else}}c{{end}}')).toBe(
      'yes b',
    )
    expect(go('{{with .Driver}}{{.IPAddress}}{{end}} {{with .Empty}}x{{else}}empty{{end}}')).toBe(
      '10.0.0.5 empty',
    )
    expect(go('{{range .Labels}}[{{.}}]{{end}}')).toBe('[env=prod][team=a]')
    expect(go('{{range $i, $l := .Labels}}{{$i}}={{$l}} {{end}}')).toBe('0=env=prod 1=team=a ')
    expect(go('{{range $k, $v := .Tags}}{{$k}}:{{$v}},{{end}}')).toBe('a:1,b:2,')
    expect(go('{{range .None}}x{{else}}none{{end}}')).toBe('none')
    expect(go('{{range .Labels}}{{$.Name}}/{{.}} {{end}}')).toBe('dev/env=prod dev/team=a ')
  })

  it('pipelines, parentheses, variables and assignment', () => {
    expect(go('{{.Name | printf "%s-x"}}')).toBe('dev-x')
    expect(go('{{"a,b" | split "x"}}')).toBe('[x]')
    expect(go('{{$ip := .Driver.IPAddress}}{{$ip}}')).toBe('10.0.0.5')
    expect(go('{{$n := 1}}{{if .On}}{{$n = 2}}{{end}}{{$n}}')).toBe('2')
    expect(go('{{(index .Labels 0) | upper}}')).toBe('ENV=PROD')
    expect(go('{{- /* a comment */ -}} {{- .Name -}} ')).toBe('dev')
    expect(go('a  {{- .Name}}  {{- "b" -}}  c')).toBe('adevbc')
    expect(go('{{`raw\\n`}} {{"tab\\tq\\""}}')).toBe('raw\\n tab\tq"')
    expect(() => go('{{$undefined}}')).toThrow(/undefined variable: \$undefined/)
  })

  it("prints JSON-decoded values as Go's %v does", () => {
    expect(go('{{.Driver.CPU}} {{.Driver.Memory}} {{.Driver.Disk}} {{.Driver.Ratio}} {{.Driver.Big}}')).toBe(
      '2 1024 1e+06 0.5 1.23456789e+08',
    )
    expect(go('{{.Tags}} {{.Nested}} {{.On}} {{.Driver.Nothing}}')).toBe(
      'map[a:1 b:2] [[1 2] map[k:<nil>]] true <no value>',
    )
    expect(goFloat(123456)).toBe('123456')
    expect(goFloat(0.00001)).toBe('1e-05')
    expect(goSprintf('%e', [1234.5])).toBe('1.234500e+03')
  })

  it("a missing key prints <no value> in docker-machine's inspect (missingKey zero)", () => {
    expect(go('{{.Nope}} {{.Driver.Nope}} {{.Nope.Deeper}}', {missingKey: 'zero'})).toBe(
      '<no value> <no value> <no value>',
    )
    expect(go('{{json .Nope}}', {missingKey: 'zero'})).toBe('null')
  })

  it('syntax errors are one-line usage errors: unclosed action, unknown function, unbalanced blocks', () => {
    const cases: Array<[string, RegExp]> = [
      ['{{.Name', /template: :1: unclosed action/],
      ['{{if .On}}x', /unexpected EOF/],
      ['{{end}}', /unexpected {{end}}/],
      ['{{nope .Name}}', /function "nope" not defined/],
      ['{{.Name 1}}', /can't give argument to non-function .Name/],
      ['{{}}', /missing value for command/],
      ['{{len}}', /wrong number of args for len: want 1 got 0/],
      ['{{index .HostOptions.EngineOptions.Labels 5}}', /index out of range: 5/],
      ['{{"unterminated}}', /unexpected/],
      ['{{range 1.5}}{{end}}', /range can't iterate over 1.5/],
      ['line\n{{.Name', /template: :2: unclosed action/],
    ]
    for (const [template, message] of cases) {
      const err = usageError(template)
      expect(err.exitCode, template).toBe(2)
      expect(err.message, template).toMatch(message)
      expect(err.message, template).not.toContain('\n')
    }
  })
})
