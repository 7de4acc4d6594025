/**
 * A syntax check for RE2 regular expressions (Envoy's regex engine), in plain TypeScript.
 *
 * It follows RE2's parser (re2/parse.cc) with the options Envoy uses (RE2 defaults, i.e. Perl-like syntax):
 * no backreferences, no look-around, no possessive/atomic groups, `\A \z \C \Q…\E \pN \p{Name}`, POSIX classes
 * inside brackets, inline flags `(?imsU-imsU)`, named groups `(?P<name>…)` / `(?<name>…)`, counted repetition up
 * to 1000 (also nested), no stacked repetition operators (`a**`).
 *
 * Known gap: RE2's program-size limit (Envoy rejects regexes whose compiled program exceeds
 * `re2.max_program_size.error_level`, default 100) needs the real compiler and is not checked here.
 * Unicode script names are checked with the JavaScript engine's script table, which also accepts short
 * aliases (`Grek`) that RE2 does not.
 */

const MAX_REPEAT = 1000;
const MAX_DEPTH = 1000;

const POSIX_CLASSES = new Set([
  'alnum', 'alpha', 'ascii', 'blank', 'cntrl', 'digit', 'graph', 'lower', 'print', 'punct', 'space', 'upper', 'word', 'xdigit',
]);

const GENERAL_CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu', 'M', 'Mc', 'Me', 'Mn', 'N', 'Nd', 'Nl', 'No',
  'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps', 'S', 'Sc', 'Sk', 'Sm', 'So', 'Z', 'Zl', 'Zp', 'Zs',
]);

export class Re2SyntaxError extends Error {
  constructor(
    message: string,
    /** Offset (UTF-16 code units) in the pattern where the problem was found. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'Re2SyntaxError';
  }
}

/** `undefined` when `pattern` is a valid RE2 expression, otherwise a message like RE2's own. */
export function checkRe2Syntax(pattern: string): string | undefined {
  try {
    new Re2Checker(pattern).run();
    return undefined;
  } catch (err) {
    if (err instanceof Re2SyntaxError) return err.message;
    throw err;
  }
}

interface Frame {
  /** Where the group opened (for "missing )"). */
  start: number;
  /** Largest product of counted repetitions inside the group. */
  maxProduct: number;
}

class Re2Checker {
  private pos = 0;
  private readonly names = new Set<string>();

  constructor(private readonly re: string) {}

  run(): void {
    const re = this.re;
    for (let i = 0; i < re.length; i++) {
      const c = re.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) {
        const next = re.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) i++;
        else throw new Re2SyntaxError('invalid UTF-8', i);
      } else if (c >= 0xdc00 && c <= 0xdfff) {
        throw new Re2SyntaxError('invalid UTF-8', i);
      }
    }

    const stack: Frame[] = [{ start: 0, maxProduct: 1 }];
    /** Something precedes at this position that a repetition operator could apply to. */
    let operand = false;
    /** The previous token was a repetition operator (RE2 refuses `a**`, `a*{2}` …). */
    let lastRepeat: string | undefined;
    /** Product of counted repetitions inside the current operand. */
    let operandProduct = 1;

    const top = (): Frame => stack[stack.length - 1]!;
    const atom = (): void => {
      operand = true;
      lastRepeat = undefined;
      operandProduct = 1;
    };

    while (this.pos < re.length) {
      const start = this.pos;
      const c = re[this.pos]!;
      switch (c) {
        case '(': {
          if (re[this.pos + 1] === '?') {
            const opened = this.parsePerlGroup();
            if (opened === 'flags') {
              // (?i) changes flags only; it is no operand and leaves the previous one in place.
              lastRepeat = undefined;
              break;
            }
          } else {
            this.pos++;
          }
          if (stack.length > MAX_DEPTH) throw new Re2SyntaxError('expression nests too deeply', start);
          stack.push({ start, maxProduct: 1 });
          operand = false;
          lastRepeat = undefined;
          break;
        }
        case '|':
          this.pos++;
          operand = false;
          lastRepeat = undefined;
          break;
        case ')': {
          if (stack.length === 1) throw new Re2SyntaxError(`unexpected ): ${re}`, start);
          const frame = stack.pop()!;
          this.pos++;
          operand = true;
          lastRepeat = undefined;
          operandProduct = frame.maxProduct;
          top().maxProduct = Math.max(top().maxProduct, frame.maxProduct);
          break;
        }
        case '^':
        case '$':
        case '.':
          this.pos++;
          atom();
          break;
        case '[':
          this.parseClass();
          atom();
          break;
        case '*':
        case '+':
        case '?': {
          this.pos++;
          if (re[this.pos] === '?') this.pos++;
          const op = re.slice(start, this.pos);
          if (lastRepeat !== undefined) throw new Re2SyntaxError(`bad repetition operator: ${lastRepeat}${op}`, start);
          if (!operand) throw new Re2SyntaxError(`missing argument to repetition operator: ${op}`, start);
          lastRepeat = op;
          break;
        }
        case '{': {
          const rep = this.maybeParseRepeat();
          if (rep === undefined) {
            // Not a well-formed {n,m}: a literal '{'.
            this.pos++;
            atom();
            break;
          }
          const op = re.slice(start, this.pos);
          if (lastRepeat !== undefined) throw new Re2SyntaxError(`bad repetition operator: ${lastRepeat}${op}`, start);
          if (!operand) throw new Re2SyntaxError(`missing argument to repetition operator: ${op}`, start);
          if (rep.min > MAX_REPEAT || rep.max > MAX_REPEAT || (rep.max >= 0 && rep.max < rep.min)) {
            throw new Re2SyntaxError(`bad repetition operator: ${op}`, start);
          }
          const count = rep.max >= 0 ? rep.max : rep.min;
          if (count > 0) operandProduct *= count;
          if (operandProduct > MAX_REPEAT) throw new Re2SyntaxError(`bad repetition operator: ${op}`, start);
          top().maxProduct = Math.max(top().maxProduct, operandProduct);
          lastRepeat = op;
          break;
        }
        case '\\': {
          const next = re[this.pos + 1];
          if (next === 'b' || next === 'B' || next === 'A' || next === 'z' || next === 'C') {
            this.pos += 2;
          } else if (next === 'Q') {
            const end = re.indexOf('\\E', this.pos + 2);
            this.pos = end < 0 ? re.length : end + 2;
          } else if (next === 'p' || next === 'P') {
            this.parseUnicodeGroup();
          } else if (next !== undefined && 'dDsSwW'.includes(next)) {
            this.pos += 2;
          } else {
            this.parseEscape();
          }
          atom();
          break;
        }
        default:
          this.pos += re.codePointAt(this.pos)! > 0xffff ? 2 : 1;
          atom();
      }
    }
    if (stack.length > 1) throw new Re2SyntaxError(`missing ): ${re}`, top().start);
  }

  /** At "(?": a named group, a non-capturing group or a flag group. Returns what it opened. */
  private parsePerlGroup(): 'group' | 'flags' {
    const re = this.re;
    const start = this.pos;
    const rest = re.slice(start);
    if (rest.startsWith('(?=') || rest.startsWith('(?!') || rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
      throw new Re2SyntaxError(`invalid or unsupported Perl syntax: ${rest.slice(0, rest[2] === '<' ? 4 : 3)}`, start);
    }
    if (rest.startsWith('(?P<') || rest.startsWith('(?<')) {
      const nameStart = start + (rest[2] === 'P' ? 4 : 3);
      const end = re.indexOf('>', nameStart);
      if (end < 0) throw new Re2SyntaxError(`invalid named capture group: ${rest}`, start);
      const name = re.slice(nameStart, end);
      if (!/^[\p{L}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]+$/u.test(name)) {
        throw new Re2SyntaxError(`invalid named capture group: ${re.slice(start, end + 1)}`, start);
      }
      if (this.names.has(name)) throw new Re2SyntaxError(`duplicate capture group name: ${name}`, start);
      this.names.add(name);
      this.pos = end + 1;
      return 'group';
    }
    // Flags: (?flags) or (?flags:re); flags are i m s U, optionally negated once with '-'.
    let i = start + 2;
    let negated = false;
    let sawFlag = false;
    for (; i < re.length; i++) {
      const c = re[i]!;
      if (c === 'i' || c === 'm' || c === 's' || c === 'U') {
        sawFlag = true;
      } else if (c === '-') {
        if (negated) break;
        negated = true;
        sawFlag = false;
      } else if (c === ':' || c === ')') {
        if (negated && !sawFlag) break;
        this.pos = i + 1;
        return c === ':' ? 'group' : 'flags';
      } else {
        break;
      }
    }
    if (i >= re.length) throw new Re2SyntaxError(`missing ): ${re}`, start);
    throw new Re2SyntaxError(`invalid or unsupported Perl syntax: ${re.slice(start, i + 1)}`, start);
  }

  /** At "{": {n}, {n,} or {n,m}; undefined (nothing consumed) when it is not one. */
  private maybeParseRepeat(): { min: number; max: number } | undefined {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.re.slice(this.pos));
    if (!m) return undefined;
    this.pos += m[0].length;
    const min = clampInt(m[1]!);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : clampInt(m[3]!);
    return { min, max };
  }

  /** At "[": a bracket expression up to its "]". */
  private parseClass(): void {
    const re = this.re;
    const start = this.pos;
    this.pos++;
    if (re[this.pos] === '^') this.pos++;
    let first = true;
    while (this.pos < re.length && (re[this.pos] !== ']' || first)) {
      first = false;
      if (re.startsWith('[:', this.pos)) {
        const end = re.indexOf(':]', this.pos + 2);
        if (end >= 0) {
          const name = re.slice(this.pos + 2, end).replace(/^\^/, '');
          if (!POSIX_CLASSES.has(name)) {
            throw new Re2SyntaxError(`invalid character class range: ${re.slice(this.pos, end + 2)}`, this.pos);
          }
          this.pos = end + 2;
          continue;
        }
      }
      if (re[this.pos] === '\\' && (re[this.pos + 1] === 'p' || re[this.pos + 1] === 'P')) {
        this.parseUnicodeGroup();
        continue;
      }
      if (re[this.pos] === '\\' && re[this.pos + 1] !== undefined && 'dDsSwW'.includes(re[this.pos + 1]!)) {
        this.pos += 2;
        continue;
      }
      const rangeStart = this.pos;
      const lo = this.parseClassChar(start);
      if (re[this.pos] === '-' && this.pos + 1 < re.length && re[this.pos + 1] !== ']') {
        this.pos++;
        const hi = this.parseClassChar(start);
        if (hi < lo) throw new Re2SyntaxError(`invalid character class range: ${re.slice(rangeStart, this.pos)}`, rangeStart);
      }
    }
    if (this.pos >= re.length) throw new Re2SyntaxError(`missing closing ]: ${re.slice(start)}`, start);
    this.pos++; // ']'
  }

  /** One character inside brackets; returns its code point. */
  private parseClassChar(classStart: number): number {
    if (this.pos >= this.re.length) throw new Re2SyntaxError(`missing closing ]: ${this.re.slice(classStart)}`, classStart);
    if (this.re[this.pos] === '\\') return this.parseEscape();
    const cp = this.re.codePointAt(this.pos)!;
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  /** At "\p" or "\P": \pN or \p{Name} / \p{^Name}. */
  private parseUnicodeGroup(): void {
    const re = this.re;
    const start = this.pos;
    this.pos += 2;
    let name: string;
    if (re[this.pos] === '{') {
      const end = re.indexOf('}', this.pos);
      if (end < 0) throw new Re2SyntaxError(`invalid character class range: ${re.slice(start)}`, start);
      name = re.slice(this.pos + 1, end);
      this.pos = end + 1;
    } else {
      if (this.pos >= re.length) throw new Re2SyntaxError(`invalid character class range: ${re.slice(start)}`, start);
      const cp = re.codePointAt(this.pos)!;
      name = String.fromCodePoint(cp);
      this.pos += cp > 0xffff ? 2 : 1;
    }
    if (name.startsWith('^')) name = name.slice(1);
    if (!isUnicodeGroupName(name)) {
      throw new Re2SyntaxError(`invalid character class range: ${re.slice(start, this.pos)}`, start);
    }
  }

  /** At "\": a single-character escape; returns its code point. */
  private parseEscape(): number {
    const re = this.re;
    const start = this.pos;
    this.pos++;
    if (this.pos >= re.length) throw new Re2SyntaxError('trailing \\', start);
    const c = re[this.pos]!;
    // Octal: \1-\7 need a second octal digit (a lone one would be a backreference); \0 may stand alone.
    if (c >= '1' && c <= '7' && !/[0-7]/.test(re[this.pos + 1] ?? '')) {
      throw new Re2SyntaxError(`invalid escape sequence: ${re.slice(start, this.pos + 1)}`, start);
    }
    if (c >= '0' && c <= '7') {
      const m = /^[0-7]{1,3}/.exec(re.slice(this.pos))!;
      this.pos += m[0].length;
      return parseInt(m[0], 8);
    }
    if (c === 'x') {
      this.pos++;
      if (re[this.pos] === '{') {
        const m = /^\{([0-9A-Fa-f]+)\}/.exec(re.slice(this.pos));
        const value = m ? parseInt(m[1]!, 16) : NaN;
        if (!m || !(value <= 0x10ffff)) throw new Re2SyntaxError(`invalid escape sequence: ${re.slice(start, this.pos + 1)}`, start);
        this.pos += m[0].length;
        return value;
      }
      const m = /^[0-9A-Fa-f]{2}/.exec(re.slice(this.pos));
      if (!m) throw new Re2SyntaxError(`invalid escape sequence: ${re.slice(start, this.pos + 2)}`, start);
      this.pos += 2;
      return parseInt(m[0], 16);
    }
    const simple: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
    if (simple[c] !== undefined) {
      this.pos++;
      return simple[c];
    }
    const code = c.charCodeAt(0);
    if (code < 0x80 && !/[A-Za-z0-9]/.test(c)) {
      this.pos++;
      return code;
    }
    throw new Re2SyntaxError(`invalid escape sequence: \\${String.fromCodePoint(re.codePointAt(this.pos)!)}`, start);
  }
}

function clampInt(digits: string): number {
  // Anything longer than 4 digits is over the limit anyway; avoid precision games.
  return digits.replace(/^0+(?=\d)/, '').length > 4 ? MAX_REPEAT + 1 : Number(digits);
}

function isUnicodeGroupName(name: string): boolean {
  if (name === 'Any' || GENERAL_CATEGORIES.has(name)) return true;
  if (!/^[A-Za-z_]+$/.test(name)) return false;
  try {
    new RegExp(`\\p{Script=${name}}`, 'u');
    return true;
  } catch {
    return false;
  }
}
