/**
 * The part of PowerShell's language the Hyper-V driver speaks, parsed for real: single-quoted
 * literals (with '' and the typographic quotes), `$variables`, numbers, barewords, `-Parameters`,
 * `@(...)` subexpressions, `('a' + [char]34 + 'b')` concatenations, calculated properties
 * `@{Name='X'; Expression={[string]$_.X}}`, pipelines, assignments, `;`, and
 * `if ((pipeline).Member.Method('literal')) { statements }`. Anything else is a parse error, as it
 * would be a different command than the simulator was built for.
 */

export type Value =
  | {kind: 'string'; value: string}
  | {kind: 'number'; value: number}
  | {kind: 'bool'; value: boolean}
  | {kind: 'variable'; name: string}
  | {kind: 'word'; value: string}
  | {kind: 'subexpression'; pipeline: Pipeline}
  | {kind: 'properties'; items: Property[]}

/** A Select-Object property: a plain name, or a calculated one converting `source` to its string form. */
export type Property = {name: string; source: string; toString: boolean}

export interface Command {
  name: string
  /** Named parameters; a switch parameter has no value (undefined). */
  parameters: Map<string, Value | undefined>
}

export interface Pipeline {
  /** `$vm | ...` starts from a variable's objects. */
  input?: string
  /** `@(...)` as a statement of its own (assigned to a variable). */
  array?: Pipeline
  commands: Command[]
}

export interface Statement {
  assign?: string
  pipeline: Pipeline
}

/** `(pipeline).A.B` or `(pipeline).A.Method('x', ...)`: members of the pipeline's one object. */
export interface MemberExpression {
  target: Pipeline
  members: string[]
  call?: {method: string; args: string[]}
}

export interface IfStatement {
  condition: MemberExpression
  body: Statement[]
}

export class ParseError extends Error {}

type Token =
  | {t: 'string'; v: string}
  | {t: 'number'; v: number}
  | {t: 'variable'; v: string}
  | {t: 'param'; v: string}
  | {t: 'word'; v: string}
  | {t: 'punct'; v: string}

const QUOTES = "'\u2018\u2019\u201A\u201B"

export function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === ' ' || c === '\t') {
      i++
    } else if (QUOTES.includes(c)) {
      let value = ''
      i++
      for (;;) {
        if (i >= text.length) throw new ParseError("The string is missing the terminator: '.")
        const d = text[i]!
        if (QUOTES.includes(d)) {
          const after = text[i + 1]
          if (after !== undefined && QUOTES.includes(after)) {
            value += d
            i += 2
            continue
          }
          i++
          break
        }
        value += d
        i++
      }
      tokens.push({t: 'string', v: value})
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i))
      if (!m) throw new ParseError(`unexpected '$' at ${i}`)
      tokens.push({t: 'variable', v: m[1]!})
      i += m[0].length
    } else if (c === '-' && /[A-Za-z]/.test(text[i + 1] ?? '')) {
      const m = /^-([A-Za-z]+)/.exec(text.slice(i))!
      tokens.push({t: 'param', v: m[1]!})
      i += m[0].length
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(text.slice(i))!
      tokens.push({t: 'number', v: Number(m[0])})
      i += m[0].length
    } else if (c === '@' && (text[i + 1] === '(' || text[i + 1] === '{')) {
      tokens.push({t: 'punct', v: c + text[i + 1]})
      i += 2
    } else if ('(){}[];|,=+.'.includes(c)) {
      tokens.push({t: 'punct', v: c})
      i++
    } else {
      const m = /^[A-Za-z][A-Za-z0-9\\_-]*/.exec(text.slice(i))
      if (!m) throw new ParseError(`Unexpected token '${text.slice(i, i + 10)}' in expression or statement.`)
      tokens.push({t: 'word', v: m[0]})
      i += m[0].length
    }
  }
  return tokens
}

class Parser {
  private at = 0
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token | undefined {
    return this.tokens[this.at]
  }

  private next(): Token {
    const token = this.tokens[this.at++]
    if (!token) throw new ParseError('unexpected end of the script')
    return token
  }

  private isPunct(v: string): boolean {
    const token = this.peek()
    return token?.t === 'punct' && token.v === v
  }

  private expect(t: Token['t'], v?: string): Token {
    const token = this.next()
    if (token.t !== t || (v !== undefined && token.v !== v))
      throw new ParseError(`expected ${v ?? t}, found ${JSON.stringify(token.v)}`)
    return token
  }

  done(): boolean {
    return this.at >= this.tokens.length
  }

  /** Statements up to the end, or up to the `}` closing a block when `inBlock`. */
  statements(inBlock = false): Array<Statement | IfStatement> {
    const list: Array<Statement | IfStatement> = []
    const atEnd = () => this.done() || (inBlock && this.isPunct('}'))
    while (!atEnd()) {
      list.push(this.statement())
      if (!atEnd()) this.expect('punct', ';')
    }
    return list
  }

  private statement(): Statement | IfStatement {
    const first = this.peek()
    const second = this.tokens[this.at + 1]
    if (first?.t === 'word' && first.v.toLowerCase() === 'if' && second?.t === 'punct' && second.v === '(') {
      this.at += 2
      const condition = this.memberExpression()
      this.expect('punct', ')')
      this.expect('punct', '{')
      const body = this.statements(true)
      this.expect('punct', '}')
      if (body.some((s) => 'condition' in s))
        throw new ParseError('nested if statements are outside the simulator')
      return {condition, body: body as Statement[]}
    }
    if (first?.t === 'variable' && second?.t === 'punct' && second.v === '=') {
      this.at += 2
      return {assign: first.v, pipeline: this.pipeline()}
    }
    return {pipeline: this.pipeline()}
  }

  private pipeline(): Pipeline {
    const pipeline: Pipeline = {commands: []}
    const first = this.peek()
    if (first?.t === 'punct' && first.v === '@(') {
      this.at++
      pipeline.array = this.pipeline()
      this.expect('punct', ')')
      return pipeline
    }
    if (first?.t === 'variable') {
      this.at++
      pipeline.input = first.v
      if (!this.isPunct('|')) return pipeline
      this.at++
    }
    pipeline.commands.push(this.command())
    while (this.isPunct('|')) {
      this.at++
      pipeline.commands.push(this.command())
    }
    return pipeline
  }

  private command(): Command {
    const name = this.expect('word').v as string
    const parameters = new Map<string, Value | undefined>()
    for (;;) {
      const token = this.peek()
      if (!token || (token.t === 'punct' && [';', '|', ')', '}'].includes(token.v))) break
      if (token.t !== 'param')
        throw new ParseError(
          `positional argument ${JSON.stringify(token.v)} given to ${name}; the driver names every parameter`,
        )
      this.at++
      const key = token.v.toLowerCase()
      if (parameters.has(key))
        throw new ParseError(
          `Cannot bind parameter because parameter '${token.v}' is specified more than once.`,
        )
      const following = this.peek()
      const isSwitch =
        !following ||
        following.t === 'param' ||
        (following.t === 'punct' && [';', '|', ')', '}'].includes(following.v))
      parameters.set(key, isSwitch ? undefined : key === 'property' ? this.properties() : this.value())
    }
    return {name, parameters}
  }

  /** `(pipeline).Name.Name` with an optional final `.Method('literal', ...)`. */
  private memberExpression(): MemberExpression {
    this.expect('punct', '(')
    const target = this.pipeline()
    this.expect('punct', ')')
    const members: string[] = []
    while (this.isPunct('.')) {
      this.at++
      const name = this.expect('word').v as string
      if (!this.isPunct('(')) {
        members.push(name)
        continue
      }
      this.at++
      const args: string[] = []
      while (!this.isPunct(')')) {
        args.push(this.expect('string').v as string)
        if (!this.isPunct(')')) this.expect('punct', ',')
      }
      this.at++
      return {target, members, call: {method: name, args}}
    }
    if (members.length === 0) throw new ParseError('expected a member after the parenthesised pipeline')
    return {target, members}
  }

  private value(): Value {
    const token = this.next()
    if (token.t === 'string') return {kind: 'string', value: token.v}
    if (token.t === 'number') return {kind: 'number', value: token.v}
    if (token.t === 'word') return {kind: 'word', value: token.v}
    if (token.t === 'variable') {
      if (token.v === 'true' || token.v === 'false') return {kind: 'bool', value: token.v === 'true'}
      return {kind: 'variable', name: token.v}
    }
    if (token.t === 'punct' && token.v === '@(') {
      const pipeline = this.pipeline()
      this.expect('punct', ')')
      return {kind: 'subexpression', pipeline}
    }
    if (token.t === 'punct' && token.v === '(') return {kind: 'string', value: this.concatenation()}
    throw new ParseError(`unexpected ${JSON.stringify(token.v)} as a parameter value`)
  }

  /** `('a' + [char]34 + 'b')`, after the opening parenthesis. */
  private concatenation(): string {
    let text = ''
    for (;;) {
      const token = this.next()
      if (token.t === 'string') {
        text += token.v
      } else if (token.t === 'punct' && token.v === '[') {
        this.expect('word', 'char')
        this.expect('punct', ']')
        text += String.fromCharCode(this.expect('number').v as number)
      } else {
        throw new ParseError(`unexpected ${JSON.stringify(token.v)} in a string expression`)
      }
      if (this.isPunct(')')) {
        this.at++
        return text
      }
      this.expect('punct', '+')
    }
  }

  /** `Name, Id, @{Name='State'; Expression={[string]$_.State}}` */
  private properties(): Value {
    const items: Property[] = []
    for (;;) {
      if (this.isPunct('@{')) {
        this.at++
        this.expect('word', 'Name')
        this.expect('punct', '=')
        const name = this.expect('string').v as string
        this.expect('punct', ';')
        this.expect('word', 'Expression')
        this.expect('punct', '=')
        this.expect('punct', '{')
        this.expect('punct', '[')
        this.expect('word', 'string')
        this.expect('punct', ']')
        const variable = this.expect('variable').v
        if (variable !== '_') throw new ParseError('a calculated property reads $_')
        this.expect('punct', '.')
        const source = this.expect('word').v as string
        this.expect('punct', '}')
        this.expect('punct', '}')
        items.push({name, source, toString: true})
      } else {
        const name = this.expect('word').v as string
        items.push({name, source: name, toString: false})
      }
      if (!this.isPunct(',')) return {kind: 'properties', items}
      this.at++
    }
  }
}

export function parseScript(text: string): Array<Statement | IfStatement> {
  return new Parser(tokenize(text)).statements()
}
