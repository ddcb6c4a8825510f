import {BerthError, ExitCode} from './errors.js'

/**
 * Go's text/template, as `inspect -f` and `ls --format` take it in docker-machine (commands/inspect.go,
 * commands/ls.go): text and actions with `{{-`/`-}}` trimming and comments; pipelines of fields
 * (`.A.B`, `$x.A`), literals, variables (`$x := ...`, `$x = ...`) and function calls; if/else if/else,
 * range (with `$i, $e :=` and else), with/else; Go's own functions (and, or, not, len, index, print,
 * printf, println, eq, ne, lt, le, gt, ge) and docker-machine's (json, prettyjson) with docker's
 * string helpers (split, join, title, lower, upper). Values print as Go's %v prints JSON-decoded data.
 * No npm package implements this faithfully (checked: @ctrl/golang-template substitutes fields only).
 */

export interface TemplateOptions {
  /** A field a map lacks: Go prints "<no value>" (docker-machine's inspect, 'zero'); berth insists by default ('error'). */
  missingKey?: 'zero' | 'error'
}

type Value = unknown
/** Go's "no value" (a map lookup that missed), distinct from JSON null (Go's nil, printed "<nil>"). */
const NO_VALUE = Symbol('no value')

class TemplateError extends BerthError {
  constructor(message: string) {
    super(`template: ${message}`, ExitCode.usage)
  }
}

// ---- lexing: the template is cut into text and actions; an action into tokens ----

type Token =
  | {kind: 'field'; path: string[]} // .A.B ('.' alone: [])
  | {kind: 'var'; name: string; path: string[]} // $x.A
  | {kind: 'ident'; name: string}
  | {kind: 'string'; value: string}
  | {kind: 'number'; value: number}
  | {kind: 'bool'; value: boolean}
  | {kind: 'nil'}
  | {kind: 'punct'; value: '|' | '(' | ')' | ':=' | '=' | ','}

interface Piece {
  text?: string
  action?: Token[]
  line: number
}

function lexTemplate(source: string): Piece[] {
  const pieces: Piece[] = []
  let i = 0
  let line = 1
  let trimNext = false
  while (i < source.length) {
    const open = source.indexOf('{{', i)
    let text = source.slice(i, open === -1 ? source.length : open)
    if (trimNext) text = text.replace(/^\s+/, '')
    trimNext = false
    if (open === -1) {
      if (text) pieces.push({text, line})
      break
    }
    const trimLeft =
      /^{{- /.test(source.slice(open, open + 4)) ||
      source.slice(open, open + 4) === '{{-\t' ||
      source.slice(open, open + 4) === '{{-\n'
    if (trimLeft) text = text.replace(/\s+$/, '')
    if (text) pieces.push({text, line})
    line += (source.slice(i, open).match(/\n/g) ?? []).length
    let j = open + (trimLeft ? 3 : 2)
    const {tokens, end, trimRight} = lexAction(source, j, line)
    j = end
    if (tokens) pieces.push({action: tokens, line})
    line += (source.slice(open, j).match(/\n/g) ?? []).length
    trimNext = trimRight
    i = j
  }
  return pieces
}

function lexAction(
  s: string,
  start: number,
  line: number,
): {tokens?: Token[]; end: number; trimRight: boolean} {
  const tokens: Token[] = []
  let i = start
  const fail = (message: string): never => {
    throw new TemplateError(`:${line}: ${message}`)
  }
  const comment = /^\s*\/\*/.exec(s.slice(i))
  if (comment) {
    const close = s.indexOf('*/', i)
    if (close === -1) fail('unclosed comment')
    const after = /^\s*(-?)\s*}}/.exec(s.slice(close + 2)) ?? fail('comment ends before closing delimiter')
    return {end: close + 2 + after[0].length, trimRight: after[1] === '-'}
  }
  for (;;) {
    if (i >= s.length) fail('unclosed action')
    const rest = s.slice(i)
    const ws = /^\s+/.exec(rest)
    if (ws) {
      if (/^\s+-}}/.test(rest)) return {tokens, end: i + ws[0].length + 3, trimRight: true}
      i += ws[0].length
      continue
    }
    if (rest.startsWith('}}')) return {tokens, end: i + 2, trimRight: false}
    let m: RegExpExecArray | null
    if ((m = /^:=/.exec(rest)) || (m = /^[|(),=]/.exec(rest))) {
      tokens.push({kind: 'punct', value: m[0] as ':='})
    } else if ((m = /^"((?:[^"\\\n]|\\.)*)"/.exec(rest))) {
      tokens.push({kind: 'string', value: unquote(m[1]!, line)})
    } else if ((m = /^`([^`]*)`/.exec(rest))) {
      tokens.push({kind: 'string', value: m[1]!})
    } else if ((m = /^(?:\.[A-Za-z_][A-Za-z0-9_]*)+/.exec(rest))) {
      tokens.push({kind: 'field', path: m[0].slice(1).split('.')})
    } else if ((m = /^\.(?![0-9])/.exec(rest))) {
      tokens.push({kind: 'field', path: []})
    } else if ((m = /^\$([A-Za-z_][A-Za-z0-9_]*)?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)/.exec(rest))) {
      tokens.push({kind: 'var', name: '$' + (m[1] ?? ''), path: m[2] ? m[2].slice(1).split('.') : []})
    } else if ((m = /^[-+]?(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+)/.exec(rest))) {
      tokens.push({kind: 'number', value: Number(m[0])})
    } else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) {
      const word = m[0]
      tokens.push(
        word === 'true' || word === 'false'
          ? {kind: 'bool', value: word === 'true'}
          : word === 'nil'
            ? {kind: 'nil'}
            : {kind: 'ident', name: word},
      )
    } else {
      fail(`unexpected ${JSON.stringify(rest[0])} in command`)
    }
    i += m![0].length
  }
}

function unquote(body: string, line: number): string {
  try {
    return JSON.parse(`"${body.replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1').replace(/\\'/g, "'")}"`) as string
  } catch {
    throw new TemplateError(`:${line}: invalid syntax in string "${body}"`)
  }
}

// ---- parsing: a tree of text, actions and control structures ----

type Arg =
  | {kind: 'field'; path: string[]}
  | {kind: 'var'; name: string; path: string[]}
  | {kind: 'literal'; value: Value}
  | {kind: 'call'; name: string}
  | {kind: 'pipe'; pipe: Pipeline}
interface Command {
  args: Arg[]
}
interface Pipeline {
  decl: string[]
  assign: boolean
  commands: Command[]
  line: number
}
type Node = {kind: 'text'; text: string} | {kind: 'action'; pipe: Pipeline} | ControlNode
interface ControlNode {
  kind: 'if' | 'with' | 'range'
  pipe: Pipeline
  body: Node[]
  otherwise: Node[]
}

const FUNCTIONS = new Set([
  'and',
  'or',
  'not',
  'len',
  'index',
  'print',
  'printf',
  'println',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
  'json',
  'prettyjson',
  'split',
  'join',
  'title',
  'lower',
  'upper',
])

function parsePipeline(tokens: Token[], line: number, declarations: boolean): Pipeline {
  let pos = 0
  const fail = (message: string): never => {
    throw new TemplateError(`:${line}: ${message}`)
  }
  const decl: string[] = []
  let assign = false
  if (declarations) {
    // `$x :=`, `$x =`, or in range `$i, $e :=`
    const t0 = tokens[0]
    if (t0?.kind === 'var' && t0.path.length === 0) {
      const t1 = tokens[1]
      if (t1?.kind === 'punct' && (t1.value === ':=' || t1.value === '=')) {
        decl.push(t0.name)
        assign = t1.value === '='
        pos = 2
      } else if (t1?.kind === 'punct' && t1.value === ',') {
        const t2 = tokens[2]
        const t3 = tokens[3]
        if (t2?.kind === 'var' && t2.path.length === 0 && t3?.kind === 'punct' && t3.value === ':=') {
          decl.push(t0.name, t2.name)
          pos = 4
        } else fail('too many declarations')
      }
    }
  }
  const pipeline = (stopAtParen: boolean): Command[] => {
    const commands: Command[] = []
    let args: Arg[] = []
    for (;;) {
      const t = tokens[pos]
      if (!t || (stopAtParen && t.kind === 'punct' && t.value === ')')) break
      pos++
      if (t.kind === 'punct') {
        if (t.value === '|') {
          if (args.length === 0) fail('missing command')
          commands.push({args})
          args = []
        } else if (t.value === '(') {
          const inner = pipeline(true)
          if (tokens[pos]?.kind !== 'punct') fail('unclosed left paren')
          pos++
          args.push({kind: 'pipe', pipe: {decl: [], assign: false, commands: inner, line}})
        } else fail(`unexpected "${t.value}" in operand`)
      } else if (t.kind === 'field') args.push({kind: 'field', path: t.path})
      else if (t.kind === 'var') args.push({kind: 'var', name: t.name, path: t.path})
      else if (t.kind === 'string' || t.kind === 'number' || t.kind === 'bool')
        args.push({kind: 'literal', value: t.value})
      else if (t.kind === 'nil') args.push({kind: 'literal', value: null})
      else if (FUNCTIONS.has(t.name)) args.push({kind: 'call', name: t.name})
      else fail(`function "${t.name}" not defined`)
    }
    if (args.length === 0) fail(commands.length ? 'missing command' : 'missing value for command')
    commands.push({args})
    return commands
  }
  const commands = pipeline(false)
  if (pos < tokens.length) fail(`unexpected ")" in command`)
  return {decl, assign, commands, line}
}

function parseTree(pieces: Piece[]): Node[] {
  let pos = 0
  /** Parses nodes until {{end}} or {{else}}; returns which one stopped it. */
  const list = (
    inside: string | undefined,
  ): {nodes: Node[]; stop: 'end' | 'else' | 'eof'; elseTokens?: Token[]} => {
    const nodes: Node[] = []
    while (pos < pieces.length) {
      const piece = pieces[pos++]!
      if (piece.text !== undefined) {
        nodes.push({kind: 'text', text: piece.text})
        continue
      }
      const tokens = piece.action!
      const head = tokens[0]
      const keyword = head?.kind === 'ident' ? head.name : undefined
      if (keyword === 'end' || keyword === 'else') {
        if (!inside) throw new TemplateError(`:${piece.line}: unexpected {{${keyword}}}`)
        return {nodes, stop: keyword, elseTokens: tokens.slice(1)}
      }
      if (keyword === 'if' || keyword === 'with' || keyword === 'range') {
        nodes.push(control(keyword, tokens.slice(1), piece.line))
        continue
      }
      if (
        keyword === 'define' ||
        keyword === 'template' ||
        keyword === 'block' ||
        keyword === 'break' ||
        keyword === 'continue'
      ) {
        throw new TemplateError(`:${piece.line}: {{${keyword}}} is not supported here`)
      }
      if (tokens.length === 0) throw new TemplateError(`:${piece.line}: missing value for command`)
      nodes.push({kind: 'action', pipe: parsePipeline(tokens, piece.line, true)})
    }
    if (inside) throw new TemplateError(`:${pieces.at(-1)?.line ?? 1}: unexpected EOF`)
    return {nodes, stop: 'eof'}
  }
  const control = (keyword: 'if' | 'with' | 'range', tokens: Token[], line: number): Node => {
    if (tokens.length === 0) throw new TemplateError(`:${line}: missing value for ${keyword}`)
    const pipe = parsePipeline(tokens, line, true)
    const body = list(keyword)
    let otherwise: Node[] = []
    if (body.stop === 'else') {
      const chained = body.elseTokens!
      // {{else if ...}} / {{else with ...}}: a nested control that shares this one's {{end}}.
      if (
        chained[0]?.kind === 'ident' &&
        (chained[0].name === 'if' || chained[0].name === 'with') &&
        keyword !== 'range'
      ) {
        otherwise = [control(chained[0].name, chained.slice(1), line)]
        return {kind: keyword, pipe, body: body.nodes, otherwise}
      }
      if (chained.length > 0) throw new TemplateError(`:${line}: unexpected tokens after {{else}}`)
      const rest = list(keyword)
      if (rest.stop !== 'end') throw new TemplateError(`:${line}: expected end; found {{else}}`)
      otherwise = rest.nodes
    }
    return {kind: keyword, pipe, body: body.nodes, otherwise}
  }
  return list(undefined).nodes
}

// ---- evaluation ----

class Scope {
  private readonly vars = new Map<string, Value>()
  constructor(private readonly parent?: Scope) {}
  get(name: string, line: number): Value {
    if (this.vars.has(name)) return this.vars.get(name)
    if (this.parent) return this.parent.get(name, line)
    throw new TemplateError(`:${line}: undefined variable: ${name}`)
  }
  declare(name: string, value: Value): void {
    this.vars.set(name, value)
  }
  assign(name: string, value: Value, line: number): void {
    if (this.vars.has(name)) this.vars.set(name, value)
    else if (this.parent) this.parent.assign(name, value, line)
    else throw new TemplateError(`:${line}: undefined variable: ${name}`)
  }
}

function typeName(value: Value): string {
  if (value === null || value === NO_VALUE || value === undefined) return 'interface {}'
  if (Array.isArray(value)) return '[]interface {}'
  if (typeof value === 'object') return 'map[string]interface {}'
  if (typeof value === 'number') return 'float64'
  return typeof value === 'boolean' ? 'bool' : 'string'
}

/** Go's truth: false, 0, nil and empty strings, slices and maps are false. */
function truth(value: Value): boolean {
  if (
    value === null ||
    value === undefined ||
    value === NO_VALUE ||
    value === false ||
    value === 0 ||
    value === ''
  )
    return false
  if (Array.isArray(value)) return value.length > 0
  if (typeof value === 'object') return Object.keys(value).length > 0
  return true
}

/** strconv.FormatFloat(f, 'g', -1, 64), which %v uses for float64 (JSON numbers decode to float64). */
export function goFloat(f: number): string {
  if (!Number.isFinite(f)) return Number.isNaN(f) ? 'NaN' : f > 0 ? '+Inf' : '-Inf'
  if (f === 0) return Object.is(f, -0) ? '-0' : '0'
  const [mantissa, expText] = f.toExponential().split('e') as [string, string]
  const exp = Number(expText)
  if (exp < -4 || exp >= 6)
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  // 'g' with the shortest precision switches to %e at exponent 6 (so 1e+06), plain notation below that.
  return String(f)
}

/** fmt's %v of JSON-decoded data. */
export function goPrint(value: Value): string {
  if (value === NO_VALUE || value === undefined) return '<no value>'
  if (value === null) return '<nil>'
  if (typeof value === 'number') return goFloat(value)
  if (Array.isArray(value)) return `[${value.map(goPrintNested).join(' ')}]`
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, Value>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    )
    return `map[${entries.map(([k, v]) => `${k}:${goPrintNested(v)}`).join(' ')}]`
  }
  return String(value)
}

/** Inside a slice or map Go prints nil as <nil>. */
function goPrintNested(value: Value): string {
  return value === NO_VALUE ? '<nil>' : goPrint(value)
}

function goJson(value: Value, indent?: string): string {
  return JSON.stringify(value === NO_VALUE || value === undefined ? null : value, null, indent) ?? 'null'
}

/** The subset of fmt's verbs templates use: %v %s %d %q %t %f %g %e %x %X %%, with flags, width and precision. */
export function goSprintf(format: string, args: Value[]): string {
  let next = 0
  const out = format.replace(
    /%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g,
    (all, flags: string, width?: string, precision?: string, verb?: string) => {
      if (verb === '%') return '%'
      if (next >= args.length) return `%!${verb}(MISSING)`
      const arg = args[next++]
      let text: string
      switch (verb) {
        case 'v':
        case 's':
          text = typeof arg === 'string' ? arg : goPrint(arg)
          if (precision !== undefined && verb === 's') text = text.slice(0, Number(precision))
          break
        case 'q':
          text = JSON.stringify(typeof arg === 'string' ? arg : goPrint(arg))
          break
        case 'd':
          text =
            typeof arg === 'number' && Number.isInteger(arg)
              ? String(arg)
              : `%!d(${typeName(arg)}=${goPrint(arg)})`
          break
        case 't':
          text = typeof arg === 'boolean' ? String(arg) : `%!t(${typeName(arg)}=${goPrint(arg)})`
          break
        case 'f':
        case 'e':
        case 'g':
          if (typeof arg !== 'number') text = `%!${verb}(${typeName(arg)}=${goPrint(arg)})`
          else if (verb === 'f') text = arg.toFixed(precision === undefined ? 6 : Number(precision))
          else if (verb === 'e')
            text = arg
              .toExponential(precision === undefined ? 6 : Number(precision))
              .replace(/e([-+])(\d)$/, 'e$10$2')
          else
            text = precision === undefined ? goFloat(arg) : String(Number(arg.toPrecision(Number(precision))))
          break
        case 'x':
        case 'X':
          text =
            typeof arg === 'number' && Number.isInteger(arg)
              ? arg.toString(16)
              : Buffer.from(typeof arg === 'string' ? arg : goPrint(arg)).toString('hex')
          if (verb === 'X') text = text.toUpperCase()
          break
        default:
          return `%!${verb}(${typeName(arg)}=${goPrint(arg)})`
      }
      if (flags.includes('+') && typeof arg === 'number' && arg >= 0 && 'dfeg'.includes(verb!))
        text = '+' + text
      if (width !== undefined && text.length < Number(width)) {
        const pad = (
          flags.includes('0') && !flags.includes('-') && typeof arg === 'number' ? '0' : ' '
        ).repeat(Number(width) - text.length)
        text = flags.includes('-') ? text + pad.replace(/0/g, ' ') : pad + text
      }
      void all
      return text
    },
  )
  return next < args.length
    ? `${out}%!(EXTRA ${args
        .slice(next)
        .map((a) => `${typeName(a)}=${goPrint(a)}`)
        .join(', ')})`
    : out
}

function basicKind(value: Value): string | undefined {
  if (value === null || value === NO_VALUE || value === undefined) return 'nil'
  return typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean'
    ? typeof value
    : undefined
}

function compare(op: string, a: Value, b: Value, line: number): boolean {
  const ka = basicKind(a)
  const kb = basicKind(b)
  if (!ka || !kb) throw new TemplateError(`:${line}: error calling ${op}: invalid type for comparison`)
  if (op === 'eq' || op === 'ne') {
    if (ka !== kb && ka !== 'nil' && kb !== 'nil')
      throw new TemplateError(`:${line}: error calling ${op}: incompatible types for comparison`)
    const equal = ka === 'nil' || kb === 'nil' ? ka === kb : a === b
    return op === 'eq' ? equal : !equal
  }
  if (ka !== kb) throw new TemplateError(`:${line}: error calling ${op}: incompatible types for comparison`)
  if (ka === 'bool' || ka === 'nil')
    throw new TemplateError(`:${line}: error calling ${op}: invalid type for comparison`)
  const [x, y] = [a as number | string, b as number | string]
  return op === 'lt' ? x < y : op === 'le' ? x <= y : op === 'gt' ? x > y : x >= y
}

function callFunction(name: string, args: Value[], line: number): Value {
  const fail = (message: string): never => {
    throw new TemplateError(`:${line}: error calling ${name}: ${message}`)
  }
  const arity = (n: number) => {
    if (args.length !== n)
      throw new TemplateError(`:${line}: wrong number of args for ${name}: want ${n} got ${args.length}`)
  }
  const str = (v: Value): string => (typeof v === 'string' ? v : fail(`expected string; found ${goPrint(v)}`))
  switch (name) {
    case 'and':
    case 'or': {
      if (args.length === 0) fail('wrong number of args')
      for (const a of args) if (truth(a) === (name === 'or')) return a
      return args.at(-1)
    }
    case 'not':
      arity(1)
      return !truth(args[0])
    case 'len': {
      arity(1)
      const v = args[0]
      if (typeof v === 'string') return Buffer.byteLength(v)
      if (Array.isArray(v)) return v.length
      if (v && typeof v === 'object') return Object.keys(v).length
      return fail(`len of type ${typeName(v)}`)
    }
    case 'index': {
      if (args.length === 0) fail('wrong number of args')
      let v = args[0]
      for (const key of args.slice(1)) {
        if (Array.isArray(v)) {
          if (typeof key !== 'number' || !Number.isInteger(key))
            fail(`cannot index slice/array with type ${typeName(key)}`)
          if ((key as number) < 0 || (key as number) >= v.length) fail(`index out of range: ${key as number}`)
          v = v[key as number]
        } else if (v && typeof v === 'object') {
          if (typeof key !== 'string') fail(`value has type ${typeName(key)}; should be string`)
          v = Object.hasOwn(v, key as string) ? (v as Record<string, Value>)[key as string] : NO_VALUE
        } else if (v === null || v === NO_VALUE) {
          fail('index of untyped nil')
        } else fail(`can't index item of type ${typeName(v)}`)
      }
      return v
    }
    case 'print':
      // fmt.Sprint: spaces only between operands that are not strings.
      return args
        .map(
          (a, i) =>
            (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + goPrintNested(a),
        )
        .join('')
    case 'println':
      return args.map(goPrintNested).join(' ') + '\n'
    case 'printf':
      if (args.length === 0) fail('wrong number of args')
      return goSprintf(str(args[0]), args.slice(1))
    case 'eq':
      if (args.length < 2) fail('missing argument for comparison')
      return args.slice(1).some((b) => compare('eq', args[0], b, line))
    case 'ne':
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge':
      arity(2)
      return compare(name, args[0], args[1], line)
    case 'json':
      arity(1)
      return goJson(args[0])
    case 'prettyjson':
      arity(1)
      return goJson(args[0], '    ')
    case 'split':
      arity(2)
      return str(args[0]).split(str(args[1]))
    case 'join': {
      arity(2)
      const list = Array.isArray(args[0]) ? args[0] : fail(`expected a list; found ${goPrint(args[0])}`)
      return list.map((v) => str(v)).join(str(args[1]))
    }
    case 'title':
      arity(1)
      return str(args[0]).replace(
        /(^|[^\p{L}\p{N}_'])(\p{L})/gu,
        (_m, before: string, letter: string) => before + letter.toUpperCase(),
      )
    case 'lower':
      arity(1)
      return str(args[0]).toLowerCase()
    case 'upper':
      arity(1)
      return str(args[0]).toUpperCase()
    default:
      return fail('not defined')
  }
}

class Evaluator {
  constructor(private readonly options: TemplateOptions) {}

  field(base: Value, path: string[], line: number, shown: string): Value {
    let value = base
    for (const key of path) {
      if (value === NO_VALUE || value === null) {
        if (this.options.missingKey !== 'zero')
          throw new TemplateError(
            `:${line}: executing at <${shown}>: nil pointer evaluating interface {}.${key}`,
          )
        return NO_VALUE
      }
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new TemplateError(
          `:${line}: executing at <${shown}>: can't evaluate field ${key} in type ${typeName(value)}`,
        )
      }
      if (!Object.hasOwn(value, key)) {
        if (this.options.missingKey !== 'zero') throw new TemplateError(`no field "${key}" in <${shown}>`)
        return NO_VALUE
      }
      value = (value as Record<string, Value>)[key]
    }
    return value
  }

  arg(arg: Arg, dot: Value, scope: Scope, line: number): Value {
    switch (arg.kind) {
      case 'field':
        return this.field(dot, arg.path, line, `.${arg.path.join('.')}`)
      case 'var':
        return this.field(
          scope.get(arg.name, line),
          arg.path,
          line,
          `${arg.name}${arg.path.map((p) => '.' + p).join('')}`,
        )
      case 'literal':
        return arg.value
      case 'pipe':
        return this.pipeline(arg.pipe, dot, scope)
      case 'call':
        return callFunction(arg.name, [], line)
    }
  }

  pipeline(pipe: Pipeline, dot: Value, scope: Scope): Value {
    let previous: Value = NO_VALUE
    pipe.commands.forEach((command, index) => {
      const [head, ...rest] = command.args
      const piped = index > 0 ? [previous] : []
      if (head!.kind === 'call') {
        previous = callFunction(
          head!.name,
          [...rest.map((a) => this.arg(a, dot, scope, pipe.line)), ...piped],
          pipe.line,
        )
      } else {
        if (rest.length > 0 || piped.length > 0) {
          throw new TemplateError(`:${pipe.line}: can't give argument to non-function ${describe(head!)}`)
        }
        previous = this.arg(head!, dot, scope, pipe.line)
      }
    })
    if (pipe.decl.length === 1) {
      if (pipe.assign) scope.assign(pipe.decl[0]!, previous, pipe.line)
      else scope.declare(pipe.decl[0]!, previous)
    }
    return previous
  }

  run(nodes: Node[], dot: Value, scope: Scope, out: string[]): void {
    for (const node of nodes) {
      if (node.kind === 'text') {
        out.push(node.text)
      } else if (node.kind === 'action') {
        const value = this.pipeline(node.pipe, dot, scope)
        // A nil interface (JSON null) is no value to the template printer, as a missing key is.
        if (node.pipe.decl.length === 0) out.push(value === null ? '<no value>' : goPrint(value))
      } else {
        const inner = new Scope(scope)
        const value = this.pipeline(
          {...node.pipe, decl: node.kind === 'range' ? [] : node.pipe.decl},
          dot,
          inner,
        )
        if (node.kind === 'if') this.run(truth(value) ? node.body : node.otherwise, dot, inner, out)
        else if (node.kind === 'with')
          this.run(truth(value) ? node.body : node.otherwise, truth(value) ? value : dot, inner, out)
        else this.range(node, value, dot, inner, out)
      }
    }
  }

  private range(node: ControlNode, value: Value, dot: Value, scope: Scope, out: string[]): void {
    let items: Array<[Value, Value]>
    if (Array.isArray(value)) items = value.map((v, i) => [i, v])
    else if (value && typeof value === 'object')
      items = Object.keys(value)
        .sort()
        .map((k) => [k, (value as Record<string, Value>)[k]])
    else if (typeof value === 'number' && Number.isInteger(value))
      items = Array.from({length: Math.max(0, value)}, (_, i) => [i, i])
    else if (value === null || value === NO_VALUE) items = []
    else throw new TemplateError(`:${node.pipe.line}: range can't iterate over ${goPrint(value)}`)
    if (items.length === 0) {
      this.run(node.otherwise, dot, scope, out)
      return
    }
    const [first, second] = node.pipe.decl
    for (const [key, element] of items) {
      const inner = new Scope(scope)
      if (first && second) {
        inner.declare(first, key)
        inner.declare(second, element)
      } else if (first) inner.declare(first, element)
      this.run(node.body, element, inner, out)
    }
  }
}

function describe(arg: Arg): string {
  if (arg.kind === 'field') return `.${arg.path.join('.')}`
  if (arg.kind === 'var') return arg.name + arg.path.map((p) => '.' + p).join('')
  return arg.kind === 'literal' ? goPrint(arg.value) : '(pipeline)'
}

/** Parses `template` once (errors name the line, as Go's do); the returned function executes it on data. */
export function compileTemplate(template: string, options: TemplateOptions = {}): (data: unknown) => string {
  const tree = parseTree(lexTemplate(template))
  const evaluator = new Evaluator(options)
  return (data) => {
    const scope = new Scope()
    scope.declare('$', data)
    const out: string[] = []
    evaluator.run(tree, data, scope, out)
    return out.join('')
  }
}

/** `ls --format` as docker-machine's parseFormat (commands/ls.go) reads it: literal \\t and \\n as the shell passes them. */
export function expandLsEscapes(format: string): string {
  return format.replace(/\\t/g, '\t').replace(/\\n/g, '\n')
}

export function renderTemplate(template: string, data: unknown, options: TemplateOptions = {}): string {
  return compileTemplate(template, options)(data)
}
