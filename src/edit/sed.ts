import { ExtimgError } from '../errors.js';

/**
 * `--sed PATH=SCRIPT`: the `s` command of GNU sed 4.9 run as `LC_ALL=C sed -E -e SCRIPT`, on
 * bytes. Three parts:
 * - the script parser mirrors sed's compile.c: `match_slash` (a `\n` in a regex is a newline, an
 *   escaped delimiter loses its backslash, so `s|a\|b|X|` is the ERE `a|b` as in sed),
 *   `normalize_text` (`\t`, `\xHH`, `\dNNN`, `\oNNN`, ...), `mark_subst_opts` (flags);
 * - the ERE compiler mirrors glibc's regcomp.c: the parse tree of `parse_reg_exp` /
 *   `parse_dup_op` (`x{2,4}` is `xx((x)x?)?`-shaped as glibc builds it, `(x)*` marks the group
 *   optional), `optimize_subexps` (`((x))` is one group), and NFA nodes numbered in post-order
 *   as `calc_first` numbers them, because glibc prefers the lower-numbered branch;
 * - the matcher: POSIX leftmost-longest overall match by a Thompson simulation over bytes (no
 *   backtracking: time O(line length x pattern size) per search), then the submatches as glibc's
 *   `set_regs` picks them: a walk from the start that takes, at each branch, the lowest-numbered
 *   node that can still end where the overall match ends (`sift_states_backward`), with
 *   `update_regs`' rule for empty optional groups. So `s/a|ab/X/` on "ab" gives "X" (JavaScript's
 *   RegExp would give "Xb") and `(a|ab)(c|bcd)` on "abcd" captures "a", "bcd" as glibc does.
 * Back-references inside the regex (`(a)\1`) are refused: they need backtracking.
 */

// ---------------------------------------------------------------------------------------------
// Public types

/** A compiled regex (an `s` command's or an address's). */
export interface SedRegex {
  /** The regex as written in the script (delimiters removed, escapes not yet applied). */
  readonly source: string;
  readonly icase: boolean;
  /** @internal the compiled program */
  readonly program: Program;
}

export type SedAddress = { readonly line: number } | { readonly last: true } | { readonly re: SedRegex };

/** One piece of a replacement: bytes, a group (0 = the whole match, `&`), or a case change. */
export type ReplacementPart =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'group'; readonly group: number }
  | { readonly kind: 'case'; readonly mode: 'U' | 'L' | 'E' | 'u' | 'l' };

export interface SedCommand {
  /** The command as written, for messages (`s/foo/bar/g`). */
  readonly text: string;
  /** 1-based column of the command in the script. */
  readonly column: number;
  readonly address?: SedAddress;
  /** `!` after the address: lines the address does not select. */
  readonly negate: boolean;
  readonly regex: SedRegex;
  readonly replacement: readonly ReplacementPart[];
  /** `g`: every match from `occurrence` on. */
  readonly global: boolean;
  /** A number flag: the first match replaced (1 without one). */
  readonly occurrence: number;
}

export interface SedScript {
  readonly script: string;
  readonly commands: readonly SedCommand[];
}

/** Bounds: a script, one regex after expansion of its repetitions, and the capture walk. */
export const SED_MAX_SCRIPT = 64 * 1024;
export const SED_MAX_NODES = 20_000;
const MAX_WALK_CELLS = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Errors

class ScriptError extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

function usage(script: string, offset: number, what: string): ExtimgError {
  const column = offset + 1;
  return new ExtimgError('EUSAGE', `sed script ${JSON.stringify(script)}: column ${column}: ${what}`, { script, column });
}

// ---------------------------------------------------------------------------------------------
// Byte classes (C locale)

const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => isUpper(c) || isLower(c);
const isAlnum = (c: number): boolean => isAlpha(c) || isDigit(c);
const isWord = (c: number): boolean => isAlnum(c) || c === 0x5f;
const toLower = (c: number): number => (isUpper(c) ? c + 0x20 : c);
const toUpper = (c: number): number => (isLower(c) ? c - 0x20 : c);

const CLASSES: Record<string, (c: number) => boolean> = {
  alpha: isAlpha,
  digit: isDigit,
  alnum: isAlnum,
  upper: isUpper,
  lower: isLower,
  space: (c) => c === 0x20 || (c >= 0x09 && c <= 0x0d),
  blank: (c) => c === 0x20 || c === 0x09,
  punct: (c) => (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e),
  print: (c) => c >= 0x20 && c <= 0x7e,
  graph: (c) => c >= 0x21 && c <= 0x7e,
  cntrl: (c) => c < 0x20 || c === 0x7f,
  xdigit: (c) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66),
};

function classSet(test: (c: number) => boolean, negate = false): Uint8Array {
  const set = new Uint8Array(256);
  for (let c = 0; c < 256; c++) set[c] = test(c) !== negate ? 1 : 0;
  return set;
}

// ---------------------------------------------------------------------------------------------
// The parse tree (glibc's bin_tree_t, before lowering)

type AnchorKind = 'bol' | 'eol' | 'wordBoundary' | 'notWordBoundary' | 'wordStart' | 'wordEnd';

type Ast =
  | { t: 'set'; set: Uint8Array }
  | { t: 'anchor'; kind: AnchorKind }
  | { t: 'cat'; l: Ast; r: Ast }
  | { t: 'alt'; l: Ast | null; r: Ast | null }
  | { t: 'star'; l: Ast }
  | { t: 'group'; idx: number; l: Ast | null; opt: boolean };

function astSize(a: Ast | null): number {
  if (a === null) return 0;
  switch (a.t) {
    case 'set':
    case 'anchor':
      return 1;
    case 'cat':
      return astSize(a.l) + astSize(a.r);
    case 'alt':
      return 1 + astSize(a.l) + astSize(a.r);
    case 'star':
      return 1 + astSize(a.l);
    case 'group':
      return 2 + astSize(a.l);
  }
}

/** glibc's duplicate_tree: a deep copy whose groups are not optional any more. */
function dup(a: Ast): Ast {
  switch (a.t) {
    case 'set':
    case 'anchor':
      return a; // immutable leaves may be shared
    case 'cat':
      return { t: 'cat', l: dup(a.l), r: dup(a.r) };
    case 'alt':
      return { t: 'alt', l: a.l && dup(a.l), r: a.r && dup(a.r) };
    case 'star':
      return { t: 'star', l: dup(a.l) };
    case 'group':
      return { t: 'group', idx: a.idx, l: a.l && dup(a.l), opt: false }; // create_token_tree clears opt_subexp
  }
}

/** glibc's mark_opt_subexp: the groups numbered `idx` inside `a`. */
function markOptional(a: Ast | null, idx: number): void {
  if (a === null) return;
  switch (a.t) {
    case 'cat':
    case 'alt':
      markOptional(a.l, idx);
      markOptional(a.r, idx);
      return;
    case 'star':
      markOptional(a.l, idx);
      return;
    case 'group':
      if (a.idx === idx) a.opt = true;
      markOptional(a.l, idx);
      return;
    default:
      return;
  }
}

const cat = (l: Ast | null, r: Ast | null): Ast | null => (l === null ? r : r === null ? l : { t: 'cat', l, r });

// ---------------------------------------------------------------------------------------------
// The ERE parser (glibc regcomp.c for RE_SYNTAX_POSIX_EXTENDED as sed sets it up)

const RE_DUP_MAX = 0x7fff;

class EreParser {
  private pos = 0;
  nsub = 0;
  private readonly groupOpen: number[] = [];

  constructor(
    private readonly re: Uint8Array,
    /** Script offset of each byte of `re`, for messages. */
    private readonly cols: number[],
    private readonly endCol: number,
    private readonly icase: boolean,
  ) {}

  private fail(at: number, what: string): never {
    throw new ScriptError(at < this.cols.length ? this.cols[at]! : this.endCol, what);
  }

  parse(): Ast | null {
    const tree = this.regExp(0);
    if (this.pos < this.re.length) this.fail(this.pos, 'unmatched ) in the regex');
    return tree;
  }

  private peek(): number {
    return this.pos < this.re.length ? this.re[this.pos]! : -1;
  }

  private atBranchEnd(nest: number): boolean {
    const c = this.peek();
    return c === -1 || c === 0x7c /* | */ || (nest > 0 && c === 0x29); /* ) */
  }

  private regExp(nest: number): Ast | null {
    let tree = this.branch(nest);
    while (this.peek() === 0x7c) {
      this.pos++;
      const branch = this.atBranchEnd(nest) ? null : this.branch(nest);
      tree = { t: 'alt', l: tree, r: branch };
    }
    return tree;
  }

  private branch(nest: number): Ast | null {
    let tree = this.expression(nest);
    while (!this.atBranchEnd(nest)) tree = cat(tree, this.expression(nest));
    return tree;
  }

  private literal(c: number): Ast {
    const set = new Uint8Array(256);
    set[this.icase ? toLower(c) : c] = 1;
    return { t: 'set', set };
  }

  private expression(nest: number): Ast | null {
    const start = this.pos;
    const c = this.peek();
    let tree: Ast | null;
    switch (c) {
      case -1:
      case 0x7c:
        return null;
      case 0x2a: // *
      case 0x2b: // +
      case 0x3f: // ?
      case 0x7b: // {
        return this.fail(start, `invalid preceding regular expression (nothing to repeat before ${String.fromCharCode(c)})`);
      case 0x29: // ) at nest 0
        return this.fail(start, 'unmatched ) in the regex');
      case 0x5e: // ^
        this.pos++;
        return { t: 'anchor', kind: 'bol' }; // glibc: no repetition after an anchor
      case 0x24: // $
        this.pos++;
        return { t: 'anchor', kind: 'eol' };
      case 0x2e: // .
        this.pos++;
        tree = { t: 'set', set: classSet(() => true) };
        break;
      case 0x5b: // [
        this.pos++;
        tree = { t: 'set', set: this.bracket(start) };
        break;
      case 0x28: {
        // (
        this.pos++;
        const idx = ++this.nsub;
        this.groupOpen.push(start);
        const body = this.peek() === 0x29 ? null : this.regExp(nest + 1);
        if (this.peek() !== 0x29) this.fail(start, 'unmatched ( in the regex');
        this.pos++;
        this.groupOpen.pop();
        tree = { t: 'group', idx, l: body, opt: false };
        break;
      }
      case 0x5c: {
        // backslash
        this.pos++;
        const e = this.peek();
        if (e === -1) this.fail(start, 'trailing backslash in the regex');
        const special = this.backslash(start, e);
        if (special === 'anchor') return this.lastAnchor!;
        tree = special;
        break;
      }
      default:
        this.pos++;
        tree = this.literal(c);
    }
    return this.repetitions(tree);
  }

  private lastAnchor: Ast | undefined;

  /** After a backslash (at `start`): a GNU class, an anchor, a sed escape, or a literal byte. */
  private backslash(start: number, e: number): Ast | 'anchor' {
    const anchor = (kind: AnchorKind): 'anchor' => {
      this.pos++;
      this.lastAnchor = { t: 'anchor', kind };
      return 'anchor';
    };
    switch (e) {
      case 0x77: // \w
      case 0x57: // \W
        this.pos++;
        return { t: 'set', set: classSet(isWord, e === 0x57) };
      case 0x73: // \s
      case 0x53: // \S
        this.pos++;
        return { t: 'set', set: classSet(CLASSES.space!, e === 0x53) };
      case 0x62:
        return anchor('wordBoundary');
      case 0x42:
        return anchor('notWordBoundary');
      case 0x3c:
        return anchor('wordStart');
      case 0x3e:
        return anchor('wordEnd');
      case 0x60:
        return anchor('bol');
      case 0x27:
        return anchor('eol');
      default:
        break;
    }
    if (e >= 0x31 && e <= 0x39) this.fail(start, 'back-references inside the regex (\\1-\\9) are not supported');
    const byte = this.sedEscape();
    if (byte !== undefined) return this.literal(byte);
    this.pos++;
    return this.literal(e); // \. \* \{ \/ ...: the byte itself
  }

  /**
   * sed's normalize_text (TEXT_REGEX) escapes, with the reader on the letter after the backslash:
   * the byte it stands for (consumed), or undefined (nothing consumed).
   */
  private sedEscape(): number | undefined {
    const r = readSedEscape(this.re, this.pos);
    if (r === undefined) return undefined;
    this.pos = r.next;
    return r.byte;
  }

  private repetitions(tree: Ast | null): Ast | null {
    for (;;) {
      const at = this.pos;
      const c = this.peek();
      let min: number;
      let max: number; // -1: no limit
      if (c === 0x2a) [min, max] = [0, -1];
      else if (c === 0x2b) [min, max] = [1, -1];
      else if (c === 0x3f) [min, max] = [0, 1];
      else if (c === 0x7b) {
        this.pos++;
        [min, max] = this.interval(at);
        this.pos--;
      } else return tree;
      this.pos++;
      tree = this.duplicate(tree, min, max, at);
    }
  }

  /** `{n}`, `{n,}`, `{n,m}`, `{,m}` with the reader after `{`; leaves it after `}`. */
  private interval(at: number): [number, number] {
    const num = (): number | undefined => {
      let n: number | undefined;
      while (isDigit(this.peek())) {
        n = (n ?? 0) * 10 + (this.peek() - 0x30);
        if (n > RE_DUP_MAX + 1) n = RE_DUP_MAX + 1;
        this.pos++;
      }
      return n;
    };
    let min = num();
    let max: number;
    if (this.peek() === 0x2c) {
      this.pos++;
      min ??= 0;
      max = num() ?? -1;
    } else {
      if (min === undefined) this.fail(at, this.peek() === -1 ? 'unmatched { in the regex' : 'invalid content of {} in the regex');
      max = min;
    }
    if (this.peek() !== 0x7d) this.fail(at, this.peek() === -1 ? 'unmatched { in the regex' : 'invalid content of {} in the regex');
    this.pos++;
    if (max !== -1 && min > max) this.fail(at, 'invalid content of {} in the regex (minimum over maximum)');
    if (min > RE_DUP_MAX || max > RE_DUP_MAX) this.fail(at, `regular expression too big (a repetition over ${RE_DUP_MAX})`);
    return [min, max];
  }

  /** glibc's parse_dup_op: `<re>{n,m}` as `<re>...<re>` then `(<re>(<re>...<re>?)?)?`. */
  private duplicate(elem: Ast | null, min: number, max: number, at: number): Ast | null {
    if (elem === null) return null;
    if (min === 0 && max === 0) return null;
    const copies = Math.max(min, max === -1 ? min + 1 : max);
    if (astSize(elem) * copies > SED_MAX_NODES) this.fail(at, `regex too big (over ${SED_MAX_NODES} nodes once repetitions are expanded)`);
    let tree: Ast | null = null;
    let oldTree: Ast | null = null;
    if (min > 0) {
      tree = elem;
      for (let i = 2; i <= min; i++) {
        elem = dup(elem);
        tree = { t: 'cat', l: tree, r: elem };
      }
      if (min === max) return tree;
      elem = dup(elem);
      oldTree = tree;
    }
    if (elem.t === 'group') markOptional(elem, elem.idx);
    tree = max === -1 ? { t: 'star', l: elem } : { t: 'alt', l: elem, r: null };
    if (max !== -1) {
      for (let i = min + 2; i <= max; i++) {
        elem = dup(elem);
        tree = { t: 'alt', l: { t: 'cat', l: tree, r: elem }, r: null };
      }
    }
    return oldTree === null ? tree : { t: 'cat', l: oldTree, r: tree };
  }

  /** A bracket expression, the reader after `[` (at `start`). */
  private bracket(start: number): Uint8Array {
    const set = new Uint8Array(256);
    let negate = false;
    if (this.peek() === 0x5e) {
      negate = true;
      this.pos++;
    }
    const unmatched = (): never => this.fail(start, 'unmatched [ in the regex');
    const add = (c: number): void => {
      set[this.icase ? toLower(c) : c] = 1;
    };
    /** One element: a byte, or a class (then a range may not use it). */
    const element = (first: boolean): { byte: number } | { cls: (c: number) => boolean } | 'end' => {
      const c = this.peek();
      if (c === -1) unmatched();
      if (c === 0x5d && !first) {
        this.pos++;
        return 'end';
      }
      if (c === 0x5b) {
        const kind = this.re[this.pos + 1];
        if (kind === 0x3a || kind === 0x3d || kind === 0x2e) {
          // [:class:], [=c=], [.c.]
          const open = this.pos;
          let j = this.pos + 2;
          while (j + 1 < this.re.length && !(this.re[j] === kind && this.re[j + 1] === 0x5d)) j++;
          if (j + 1 >= this.re.length) unmatched();
          const name = String.fromCharCode(...this.re.subarray(this.pos + 2, j));
          this.pos = j + 2;
          if (kind === 0x3a) {
            let n = name;
            if (this.icase && (n === 'upper' || n === 'lower')) n = 'alpha'; // glibc build_charclass
            const cls = CLASSES[n];
            if (cls === undefined) this.fail(open, `invalid character class name [:${name}:]`);
            return { cls };
          }
          if (j - (open + 2) !== 1) this.fail(open, `invalid collation character [${String.fromCharCode(kind)}${name}${String.fromCharCode(kind)}]`);
          return { byte: this.re[open + 2]! };
        }
      }
      if (c === 0x5c) {
        // sed converts \n, \t, \xHH ... before the regex compiler sees the bracket; any other
        // backslash is an ordinary member (POSIX)
        this.pos++;
        const b = this.sedEscape();
        if (b !== undefined) return { byte: b };
        return { byte: 0x5c };
      }
      this.pos++;
      return { byte: c };
    };
    let first = true;
    for (;;) {
      const itemAt = this.pos;
      const a = element(first);
      first = false;
      if (a === 'end') break;
      if ('cls' in a) {
        for (let c = 0; c < 256; c++) if (a.cls(c)) set[c] = 1;
        continue;
      }
      if (this.peek() === 0x2d && this.re[this.pos + 1] !== 0x5d && this.pos + 1 < this.re.length) {
        this.pos++;
        const b = element(false);
        if (b === 'end') return unmatched();
        if ('cls' in b) this.fail(itemAt, 'invalid range end in the regex');
        let lo = a.byte;
        let hi = b.byte;
        if (this.icase) [lo, hi] = [toLower(lo), toLower(hi)];
        if (lo > hi) this.fail(itemAt, 'invalid range end in the regex');
        for (let c = lo; c <= hi; c++) set[c] = 1;
        continue;
      }
      add(a.byte);
    }
    if (negate) for (let c = 0; c < 256; c++) set[c] ^= 1;
    return set;
  }
}

/**
 * sed's escapes for bytes (compile.c convert_number / normalize_text), the reader at the letter
 * after the backslash: `\a \f \n \r \t \v`, `\dNNN` decimal, `\oNNN` octal, `\xHH` hex.
 */
function readSedEscape(s: Uint8Array, pos: number): { byte: number; next: number } | undefined {
  const simple: Record<number, number> = { 0x61: 7, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
  const c = s[pos];
  if (c === undefined) return undefined;
  if (simple[c] !== undefined) return { byte: simple[c]!, next: pos + 1 };
  const radix = c === 0x64 ? 10 : c === 0x6f ? 8 : c === 0x78 ? 16 : 0;
  if (radix === 0) return undefined;
  const width = radix === 16 ? 2 : 3;
  let n = 0;
  let j = pos + 1;
  for (; j < s.length && j < pos + 1 + width; j++) {
    const d = Number.parseInt(String.fromCharCode(s[j]!), radix);
    if (Number.isNaN(d)) break;
    n = n * radix + d;
  }
  if (j === pos + 1) return undefined; // `\x` without digits: the letter itself
  return { byte: n & 0xff, next: j };
}

// ---------------------------------------------------------------------------------------------
// The NFA (glibc's dfa->nodes after lower_subexps, calc_first, calc_next, link_nfa_nodes)

const N_SET = 0;
const N_ANCHOR = 1;
const N_OPEN = 2;
const N_CLOSE = 3;
const N_ALT = 4; // ALT and STAR: two epsilon destinations
const N_END = 5;

/** @internal */
export interface Program {
  /** Node types, N_*. */
  readonly type: Uint8Array;
  /** N_SET: the byte set; N_ANCHOR: the kind; N_OPEN/N_CLOSE: the group. */
  readonly sets: (Uint8Array | null)[];
  readonly anchor: (AnchorKind | null)[];
  readonly group: Int32Array;
  /** N_OPEN/N_CLOSE of a group directly under `*`, `?`, `{0,m}` (glibc's opt_subexp). */
  readonly optional: Uint8Array;
  /** N_SET: the node after it. */
  readonly next: Int32Array;
  /** Epsilon destinations, lowest number first. */
  readonly edests: Int32Array[];
  /** Reverse epsilon edges. */
  readonly redests: Int32Array[];
  readonly start: number;
  readonly end: number;
  /** Groups as written. */
  readonly nsub: number;
  /** glibc's subexp_map: the group whose span a group reports (`((x))`: both the outer one). */
  readonly groupMap: Int32Array;
  readonly icase: boolean;
}

/** glibc's optimize_subexps (preorder): a group whose body is a group absorbs it. */
function optimizeGroups(a: Ast | null, map: Int32Array): void {
  if (a === null) return;
  if (a.t === 'group' && a.l !== null && a.l.t === 'group') {
    const inner = a.l;
    a.l = inner.l;
    map[inner.idx] = map[a.idx]!;
  }
  switch (a.t) {
    case 'cat':
    case 'alt':
      optimizeGroups(a.l, map);
      optimizeGroups(a.r, map);
      return;
    case 'star':
    case 'group':
      optimizeGroups(a.l, map);
      return;
    default:
      return;
  }
}

/** Lowered tree: groups become OPEN, body, CLOSE; every non-concatenation node gets a number. */
interface Low {
  kind: 'cat' | 'alt' | 'star' | 'set' | 'anchor' | 'open' | 'close' | 'end';
  l: Low | null;
  r: Low | null;
  src?: Ast;
  group?: number;
  opt?: boolean;
  idx: number;
  first: Low | null;
  nextNode: Low | null;
}

function lower(a: Ast | null): Low | null {
  if (a === null) return null;
  const mk = (kind: Low['kind'], l: Low | null = null, r: Low | null = null): Low => ({ kind, l, r, idx: -1, first: null, nextNode: null });
  switch (a.t) {
    case 'set':
      return { ...mk('set'), src: a };
    case 'anchor':
      return { ...mk('anchor'), src: a };
    case 'cat':
      return mk('cat', lower(a.l), lower(a.r));
    case 'alt':
      return mk('alt', lower(a.l), lower(a.r));
    case 'star':
      return mk('star', lower(a.l));
    case 'group': {
      const open = { ...mk('open'), group: a.idx, opt: a.opt };
      const close = { ...mk('close'), group: a.idx, opt: a.opt };
      const body = lower(a.l);
      return mk('cat', open, body === null ? close : mk('cat', body, close));
    }
  }
}

function compileProgram(tree: Ast | null, nsub: number, groupMap: Int32Array, icase: boolean): Program {
  const endNode: Low = { kind: 'end', l: null, r: null, idx: -1, first: null, nextNode: null };
  const low = lower(tree);
  const root: Low = low === null ? endNode : { kind: 'cat', l: low, r: endNode, idx: -1, first: null, nextNode: null };
  const nodes: Low[] = [];
  // calc_first, post-order: numbers in the order glibc's re_dfa_add_node gives them
  const post = (n: Low | null): void => {
    if (n === null) return;
    post(n.l);
    post(n.r);
    if (n.kind === 'cat') {
      n.first = n.l!.first;
      n.idx = n.l!.idx;
    } else {
      n.first = n;
      n.idx = nodes.length;
      nodes.push(n);
    }
  };
  post(root);
  // calc_next, pre-order
  const pre = (n: Low | null): void => {
    if (n === null) return;
    if (n.kind === 'star') n.l!.nextNode = n;
    else if (n.kind === 'cat') {
      n.l!.nextNode = n.r!.first;
      n.r!.nextNode = n.nextNode;
    } else {
      if (n.l) n.l.nextNode = n.nextNode;
      if (n.r) n.r.nextNode = n.nextNode;
    }
    pre(n.l);
    pre(n.r);
  };
  pre(root);
  const count = nodes.length;
  const type = new Uint8Array(count);
  const sets: (Uint8Array | null)[] = new Array(count).fill(null);
  const anchor: (AnchorKind | null)[] = new Array(count).fill(null);
  const group = new Int32Array(count);
  const optional = new Uint8Array(count);
  const next = new Int32Array(count).fill(-1);
  const edests: Int32Array[] = [];
  const rev: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    const after = n.nextNode?.idx ?? -1;
    let dests: number[] = [];
    switch (n.kind) {
      case 'set':
        type[i] = N_SET;
        sets[i] = (n.src as { set: Uint8Array }).set;
        next[i] = after;
        break;
      case 'anchor':
        type[i] = N_ANCHOR;
        anchor[i] = (n.src as { kind: AnchorKind }).kind;
        dests = [after];
        break;
      case 'open':
      case 'close':
        type[i] = n.kind === 'open' ? N_OPEN : N_CLOSE;
        group[i] = n.group!;
        optional[i] = n.opt ? 1 : 0;
        dests = [after];
        break;
      case 'alt':
      case 'star': {
        type[i] = N_ALT;
        const left = n.l ? n.l.first!.idx : after;
        const right = n.r ? n.r.first!.idx : after;
        dests = left === right ? [left] : [Math.min(left, right), Math.max(left, right)];
        break;
      }
      case 'end':
        type[i] = N_END;
        break;
      case 'cat':
        throw new Error('unreachable');
    }
    edests.push(Int32Array.from(dests));
    for (const d of dests) rev[d]!.push(i);
  });
  return {
    type,
    sets,
    anchor,
    group,
    optional,
    next,
    edests,
    redests: rev.map((r) => Int32Array.from(r)),
    start: root.first!.idx,
    end: endNode.idx,
    nsub,
    groupMap,
    icase,
  };
}

/** Compile an ERE (bytes after sed's match_slash). Throws ScriptError at a script offset. */
function compileRegex(source: string, re: Uint8Array, cols: number[], endCol: number, icase: boolean): SedRegex {
  if (re.length === 0) throw new ScriptError(endCol, 'an empty regex (sed: the last regex used) is not supported');
  const parser = new EreParser(re, cols, endCol, icase);
  const tree = parser.parse();
  const groupMap = new Int32Array(parser.nsub + 1);
  for (let i = 0; i <= parser.nsub; i++) groupMap[i] = i;
  optimizeGroups(tree, groupMap);
  if (astSize(tree) + 1 > SED_MAX_NODES) throw new ScriptError(cols[0] ?? endCol, `regex too big (over ${SED_MAX_NODES} nodes)`);
  return { source, icase, program: compileProgram(tree, parser.nsub, groupMap, icase) };
}

// ---------------------------------------------------------------------------------------------
// Matching

function anchorHolds(kind: AnchorKind, line: Uint8Array, pos: number): boolean {
  const n = line.length;
  switch (kind) {
    case 'bol':
      return pos === 0;
    case 'eol':
      return pos === n;
    default: {
      const before = pos > 0 && isWord(line[pos - 1]!);
      const after = pos < n && isWord(line[pos]!);
      if (kind === 'wordBoundary') return before !== after;
      if (kind === 'notWordBoundary') return before === after;
      if (kind === 'wordStart') return !before && after;
      return before && !after;
    }
  }
}

/** A line prepared for matching: its bytes, and those the regex compares (lower-cased for I). */
interface Subject {
  line: Uint8Array;
  folded: Uint8Array;
}

function subjectFor(p: Program, line: Uint8Array): Subject {
  if (!p.icase) return { line, folded: line };
  const folded = new Uint8Array(line.length);
  for (let i = 0; i < line.length; i++) folded[i] = toLower(line[i]!);
  return { line, folded };
}

/** Scratch space for the simulation, per program. */
class Threads {
  nodes: Int32Array;
  starts: Int32Array;
  size = 0;
  constructor(n: number) {
    this.nodes = new Int32Array(n);
    this.starts = new Int32Array(n);
  }
}

/**
 * The leftmost-longest match starting at or after `from` (glibc re_search on the whole line, so
 * `^` holds only at 0): a Thompson simulation where each NFA state keeps the earliest start that
 * reaches it. Returns [start, end] or undefined.
 */
function search(p: Program, s: Subject, from: number): [number, number] | undefined {
  const count = p.type.length;
  const n = s.line.length;
  let cur = new Threads(count);
  let nxt = new Threads(count);
  const seen = new Int32Array(count).fill(-1); // generation in which a node was added
  const stack = new Int32Array(count);
  let gen = 0;
  let bestStart = -1;
  let bestEnd = -1;
  const addClosure = (list: Threads, node: number, start: number, pos: number): void => {
    let sp = 0;
    if (seen[node] === gen) return;
    seen[node] = gen;
    stack[sp++] = node;
    while (sp > 0) {
      const v = stack[--sp]!;
      const t = p.type[v]!;
      if (t === N_ANCHOR && !anchorHolds(p.anchor[v]!, s.line, pos)) continue;
      list.nodes[list.size] = v;
      list.starts[list.size++] = start;
      if (t === N_SET || t === N_END) continue;
      const d = p.edests[v]!;
      for (let i = d.length - 1; i >= 0; i--) {
        const w = d[i]!;
        if (seen[w] !== gen) {
          seen[w] = gen;
          stack[sp++] = w;
        }
      }
    }
  };
  for (let pos = from; pos <= n; pos++) {
    if (bestStart < 0) addClosure(cur, p.start, pos, pos);
    for (let i = 0; i < cur.size; i++) {
      if (p.type[cur.nodes[i]!] !== N_END) continue;
      const st = cur.starts[i]!;
      if (bestStart < 0 || st < bestStart || (st === bestStart && pos > bestEnd)) [bestStart, bestEnd] = [st, pos];
    }
    if (pos === n) break;
    gen++;
    nxt.size = 0;
    const byte = s.folded[pos]!;
    for (let i = 0; i < cur.size; i++) {
      const v = cur.nodes[i]!;
      const st = cur.starts[i]!;
      if (bestStart >= 0 && st > bestStart) continue;
      if (p.type[v] === N_SET && p.sets[v]![byte] === 1) addClosure(nxt, p.next[v]!, st, pos + 1);
    }
    [cur, nxt] = [nxt, cur]; // the start added at pos + 1 shares this generation: one thread per node
    if (cur.size === 0 && bestStart >= 0) break;
  }
  return bestStart < 0 ? undefined : [bestStart, bestEnd];
}

/**
 * The submatches of the match [start, end] as glibc's set_regs finds them (without
 * back-references, so without its fail stack). Returns 2 * (nsub + 1) offsets, -1 for unset.
 * Only groups below `nmatch` are tracked, as sed asks for no more registers than the replacement
 * uses; that changes what `update_regs` restores for empty optional groups.
 */
function captures(p: Program, s: Subject, start: number, end: number, nmatch: number): Int32Array {
  const count = p.type.length;
  const total = 2 * count;
  const regs = 2 * (p.nsub + 1);
  if ((end - start + 1) * total > MAX_WALK_CELLS) {
    throw new ExtimgError('EINVAL', `sed: a match of ${end - start} bytes is too long to find the groups of this regex in`, { length: end - start });
  }
  // glibc copies the nodes that follow an anchor, up to the next byte consumed (calc_eclosure_iter
  // -> duplicate_node_closure), so that they carry its constraint. Node v + count stands for
  // that copy of v. It matters at the end: glibc ends the walk at the lowest-numbered END in the
  // last state, the original END when a path reaches it without passing an anchor after its last
  // byte, and only paths to that very END count.
  const dests = (x: number): number[] => {
    const v = x % count;
    const shift = x >= count || p.type[v] === N_ANCHOR ? count : 0;
    return Array.from(p.edests[v]!, (d) => d + shift);
  };
  const passable = (x: number, pos: number): boolean => {
    const v = x % count;
    return p.type[v] !== N_ANCHOR || anchorHolds(p.anchor[v]!, s.line, pos);
  };
  /** Epsilon predecessors of x in the doubled graph. */
  const preds = (x: number): number[] => {
    const v = x % count;
    const out: number[] = [];
    for (const u of p.redests[v]!) {
      if (p.type[u] === N_ANCHOR) {
        if (x >= count) out.push(u, u + count);
      } else out.push(x >= count ? u + count : u);
    }
    return out;
  };
  // forward: does a path reach the original END at `end`?
  let front = new Uint8Array(total);
  const closeOver = (set: Uint8Array, seeds: number[], pos: number): void => {
    const stack = seeds.filter((x) => set[x] === 0 && passable(x, pos));
    for (const x of stack) set[x] = 1;
    while (stack.length) {
      const x = stack.pop()!;
      if (p.type[x % count] === N_SET || p.type[x % count] === N_END) continue;
      for (const y of dests(x)) {
        if (set[y] === 1 || !passable(y, pos)) continue;
        set[y] = 1;
        stack.push(y);
      }
    }
  };
  closeOver(front, [p.start], start);
  for (let pos = start; pos < end; pos++) {
    const byte = s.folded[pos]!;
    const seeds: number[] = [];
    for (let x = 0; x < total; x++) if (front[x] === 1 && p.type[x % count] === N_SET && p.sets[x % count]![byte] === 1) seeds.push(p.next[x % count]!);
    front = new Uint8Array(total);
    closeOver(front, seeds, pos + 1);
  }
  const last = front[p.end] === 1 ? p.end : p.end + count;
  // sift_states_backward: viable[i][x] = node x at position start+i can still reach `last`
  const viable: Uint8Array[] = [];
  const queue = new Int32Array(total);
  for (let pos = end; pos >= start; pos--) {
    const set = new Uint8Array(total);
    let qn = 0;
    if (pos === end) {
      set[last] = 1;
      queue[qn++] = last;
    } else {
      const after = viable[pos + 1 - start]!;
      const byte = s.folded[pos]!;
      for (let x = 0; x < total; x++) {
        const v = x % count;
        if (p.type[v] === N_SET && p.sets[v]![byte] === 1 && after[p.next[v]!] === 1) {
          set[x] = 1;
          queue[qn++] = x;
        }
      }
    }
    for (let qi = 0; qi < qn; qi++) {
      for (const u of preds(queue[qi]!)) {
        if (set[u] === 1 || !passable(u, pos)) continue;
        set[u] = 1;
        queue[qn++] = u;
      }
    }
    viable[pos - start] = set;
  }
  const pmatch = new Int32Array(regs).fill(-1);
  const prev = new Int32Array(regs).fill(-1);
  pmatch[0] = start;
  pmatch[1] = end;
  const epsVia = new Uint8Array(total);
  const epsList: number[] = [];
  let idx = start;
  let node = p.start;
  for (let guard = 0; ; guard++) {
    if (guard > (end - start + 2) * (total + 2) * 2) throw new Error('sed: capture walk did not terminate');
    // update_regs
    const v = node % count;
    const t = p.type[v]!;
    if (t === N_OPEN && p.group[v]! < nmatch) {
      const r = p.group[v]!;
      pmatch[2 * r] = idx;
      pmatch[2 * r + 1] = -1;
    } else if (t === N_CLOSE && p.group[v]! < nmatch) {
      const r = p.group[v]!;
      if (pmatch[2 * r]! < idx) {
        pmatch[2 * r + 1] = idx;
        prev.set(pmatch);
      } else if (p.optional[v] === 1 && prev[2 * r] !== -1) {
        pmatch.set(prev);
      } else {
        pmatch[2 * r + 1] = idx;
      }
    }
    if (idx === end && node === last) break;
    // proceed_next_node
    if (t === N_SET) {
      node = p.next[v]!;
      idx++;
      for (const e of epsList) epsVia[e] = 0;
      epsList.length = 0;
      continue;
    }
    if (t === N_END) throw new Error('sed: capture walk reached the end early');
    if (epsVia[node] === 0) {
      epsVia[node] = 1;
      epsList.push(node);
    }
    const here = viable[idx - start]!;
    const d = dests(node);
    let dest = -1;
    for (let k = 0; k < d.length; k++) {
      const cand = d[k]!;
      if (here[cand] !== 1) continue;
      if (dest === -1) dest = cand;
      else {
        if (epsVia[dest] === 1) dest = cand; // glibc: avoid looping through an empty iteration
        break;
      }
    }
    if (dest === -1) throw new Error('sed: capture walk found no way on');
    node = dest;
  }
  for (let g = 1; g < nmatch; g++) {
    const m = p.groupMap[g]!;
    if (m !== g) {
      pmatch[2 * g] = pmatch[2 * m]!;
      pmatch[2 * g + 1] = pmatch[2 * m + 1]!;
    }
  }
  return pmatch;
}

// ---------------------------------------------------------------------------------------------
// The script parser (sed's compile.c for the `s` command and line addresses)

const utf8 = new TextEncoder();
const text = new TextDecoder();

/**
 * sed's match_slash: the text up to the next unescaped `delim`, the reader after it. In a regex
 * `\n` is a newline; an escaped delimiter loses its backslash (in a replacement, unless the
 * delimiter is `&`); `\` + newline is a newline. Returns undefined when unterminated.
 */
function matchSlash(s: Uint8Array, pos: number, delim: number, regex: boolean): { bytes: Uint8Array; cols: number[]; next: number } | undefined {
  const out: number[] = [];
  const cols: number[] = [];
  while (pos < s.length) {
    let c = s[pos]!;
    const col = pos;
    if (c === 0x0a) return undefined;
    if (c === delim) return { bytes: Uint8Array.from(out), cols, next: pos + 1 };
    if (c === 0x5c) {
      pos++;
      if (pos >= s.length) return undefined;
      c = s[pos]!;
      if (c === 0x6e && regex) c = 0x0a;
      else if (c !== 0x0a && (c !== delim || (!regex && c === 0x26))) {
        out.push(0x5c);
        cols.push(col);
      }
    }
    out.push(c);
    cols.push(col);
    pos++;
  }
  return undefined;
}

/** A replacement as sed's setup_replacement reads it. */
function parseReplacement(r: Uint8Array, cols: number[], nsub: number): ReplacementPart[] {
  const parts: ReplacementPart[] = [];
  let lit: number[] = [];
  const flush = (): void => {
    if (lit.length) parts.push({ kind: 'bytes', bytes: Uint8Array.from(lit) });
    lit = [];
  };
  for (let i = 0; i < r.length; i++) {
    const c = r[i]!;
    if (c === 0x26) {
      flush();
      parts.push({ kind: 'group', group: 0 });
      continue;
    }
    if (c !== 0x5c) {
      lit.push(c);
      continue;
    }
    const e = r[i + 1];
    if (e === undefined) {
      lit.push(0x5c);
      continue;
    }
    if (isDigit(e)) {
      const g = e - 0x30;
      if (g > nsub) throw new ScriptError(cols[i]!, `invalid reference \\${g} on the s command's right side (the regex has ${nsub} group${nsub === 1 ? '' : 's'})`);
      flush();
      parts.push({ kind: 'group', group: g });
      i++;
      continue;
    }
    if (e === 0x4c || e === 0x55 || e === 0x45 || e === 0x6c || e === 0x75) {
      flush();
      parts.push({ kind: 'case', mode: String.fromCharCode(e) as 'U' | 'L' | 'E' | 'u' | 'l' });
      i++;
      continue;
    }
    if (e === 0x63) throw new ScriptError(cols[i]!, '\\c (control character) is not supported');
    const esc = readSedEscape(r, i + 1);
    if (esc !== undefined) {
      lit.push(esc.byte);
      i = esc.next - 1;
      continue;
    }
    lit.push(e); // \& \\ \/ and any other: the byte itself
    i++;
  }
  flush();
  return parts;
}

const isBlank = (c: number | undefined): boolean => c === 0x20 || c === 0x09;

/**
 * Parse a script of `s` commands (GNU sed syntax, `-E`): separated by `;` or newlines, each with
 * an optional address (`N`, `$`, `/RE/`, `\cREc`, `I` after a regex address) and `!`; flags `g`,
 * a number, `I`/`i`; `#` comments. Throws ExtimgError('EUSAGE') with the script and the column.
 */
export function parseSedScript(script: string): SedScript {
  const s = utf8.encode(script);
  if (s.length > SED_MAX_SCRIPT) throw usage(script, 0, `script over ${SED_MAX_SCRIPT} bytes`);
  try {
    const commands: SedCommand[] = [];
    let pos = 0;
    for (;;) {
      while (pos < s.length && (isBlank(s[pos]) || s[pos] === 0x0a || s[pos] === 0x3b || s[pos] === 0x0d)) pos++;
      if (pos >= s.length) break;
      if (s[pos] === 0x23) {
        // comment
        while (pos < s.length && s[pos] !== 0x0a) pos++;
        continue;
      }
      const cmdStart = pos;
      let address: SedAddress | undefined;
      const c = s[pos]!;
      if (isDigit(c)) {
        let n = 0;
        while (isDigit(s[pos] ?? -1)) {
          n = Math.min(n * 10 + (s[pos]! - 0x30), Number.MAX_SAFE_INTEGER);
          pos++;
        }
        if (n === 0) throw new ScriptError(cmdStart, 'invalid usage of line address 0');
        address = { line: n };
      } else if (c === 0x24) {
        pos++;
        address = { last: true };
      } else if (c === 0x2f || c === 0x5c) {
        let delim = 0x2f;
        pos++;
        if (c === 0x5c) {
          delim = s[pos] ?? -1;
          if (delim === -1 || delim === 0x0a || delim === 0x5c) throw new ScriptError(cmdStart, 'expected a delimiter after \\ in an address');
          pos++;
        }
        const m = matchSlash(s, pos, delim, true);
        if (m === undefined) throw new ScriptError(cmdStart, 'unterminated address regex');
        const source = text.decode(s.subarray(pos, m.next - 1));
        const reEnd = m.next - 1;
        pos = m.next;
        let icase = false;
        while (s[pos] === 0x49 || s[pos] === 0x4d) {
          if (s[pos] === 0x4d) throw new ScriptError(pos, 'the M (multi-line) address flag is not supported');
          icase = true;
          pos++;
        }
        address = { re: compileRegex(source, m.bytes, m.cols, reEnd, icase) };
      }
      while (isBlank(s[pos])) pos++;
      if (address !== undefined && (s[pos] === 0x2c || s[pos] === 0x7e)) throw new ScriptError(pos, 'address ranges (A,B and first~step) are not supported');
      let negate = false;
      if (s[pos] === 0x21) {
        if (address === undefined) throw new ScriptError(pos, '! without an address');
        negate = true;
        pos++;
        while (isBlank(s[pos])) pos++;
        if (s[pos] === 0x21) throw new ScriptError(pos, 'multiple `!`s');
      }
      if (pos >= s.length) throw new ScriptError(pos, 'missing command');
      const cmd = s[pos]!;
      if (cmd !== 0x73) {
        const what = cmd === 0x0a || cmd === 0x3b ? 'missing command' : `unknown command: \`${String.fromCharCode(cmd)}' (only s is supported)`;
        throw new ScriptError(pos, what);
      }
      const sAt = pos;
      pos++;
      const delim = s[pos];
      if (delim === undefined || delim === 0x0a || delim === 0x5c) throw new ScriptError(sAt, 'unterminated `s\' command');
      pos++;
      const re = matchSlash(s, pos, delim, true);
      if (re === undefined) throw new ScriptError(sAt, 'unterminated `s\' command');
      const reSource = text.decode(s.subarray(pos, re.next - 1));
      const reEnd = re.next - 1;
      pos = re.next;
      const repl = matchSlash(s, pos, delim, false);
      if (repl === undefined) throw new ScriptError(sAt, 'unterminated `s\' command');
      pos = repl.next;
      let global = false;
      let occurrence: number | undefined;
      let icase = false;
      for (;;) {
        const f = s[pos];
        if (f === undefined || f === 0x0a || f === 0x3b) break;
        if (f === 0x23) break; // a comment follows
        if (isBlank(f) || f === 0x0d) {
          pos++;
          continue;
        }
        if (f === 0x67) {
          if (global) throw new ScriptError(pos, 'multiple `g\' options to `s\' command');
          global = true;
          pos++;
        } else if (f === 0x49 || f === 0x69) {
          icase = true;
          pos++;
        } else if (isDigit(f)) {
          if (occurrence !== undefined) throw new ScriptError(pos, 'multiple number options to `s\' command');
          const at = pos;
          let n = 0;
          while (isDigit(s[pos] ?? -1)) {
            n = Math.min(n * 10 + (s[pos]! - 0x30), Number.MAX_SAFE_INTEGER);
            pos++;
          }
          if (n === 0) throw new ScriptError(at, 'number option to `s\' command may not be zero');
          occurrence = n;
        } else if (f === 0x70 || f === 0x77 || f === 0x65 || f === 0x6d || f === 0x4d) {
          throw new ScriptError(pos, `the \`${String.fromCharCode(f)}' option of \`s' is not supported (only g, a number and I)`);
        } else {
          throw new ScriptError(pos, `unknown option to \`s': \`${String.fromCharCode(f)}'`);
        }
      }
      const regex = compileRegex(reSource, re.bytes, re.cols, reEnd, icase);
      const replacement = parseReplacement(repl.bytes, repl.cols, regex.program.nsub);
      const written = text.decode(s.subarray(cmdStart, pos)).trimEnd();
      commands.push({ text: written, column: cmdStart + 1, ...(address !== undefined ? { address } : {}), negate, regex, replacement, global, occurrence: occurrence ?? 1 });
    }
    return { script, commands };
  } catch (e) {
    if (e instanceof ScriptError) throw usage(script, e.offset, e.message);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Applying

/** sed's `max_id + 1`: the registers the replacement needs (1: the whole match only). */
function registersNeeded(parts: readonly ReplacementPart[]): number {
  return parts.reduce((n, p) => (p.kind === 'group' ? Math.max(n, p.group + 1) : n), 1);
}

/** sed's append_replacement with its case conversions (\U \L \E persistent, \u \l one byte). */
function appendReplacement(out: number[], parts: readonly ReplacementPart[], line: Uint8Array, regs: Int32Array | [number, number]): void {
  let mode: 'U' | 'L' | 'E' = 'E';
  let once: 'u' | 'l' | undefined;
  const put = (bytes: Uint8Array): void => {
    for (const b of bytes) {
      let c = mode === 'U' ? toUpper(b) : mode === 'L' ? toLower(b) : b;
      if (once !== undefined) {
        c = once === 'u' ? toUpper(b) : toLower(b);
        once = undefined;
      }
      out.push(c);
    }
  };
  for (const p of parts) {
    if (p.kind === 'bytes') put(p.bytes);
    else if (p.kind === 'case') {
      if (p.mode === 'u' || p.mode === 'l') once = p.mode;
      else {
        mode = p.mode;
        once = undefined;
      }
    } else {
      const so = regs[2 * p.group]!;
      const eo = regs[2 * p.group + 1]!;
      if (so >= 0 && eo >= so) put(line.subarray(so, eo));
    }
  }
}

/** The `s` command on one line (sed's do_subst). Returns the new line, or undefined if unchanged. */
function substitute(cmd: SedCommand, line: Uint8Array): { line: Uint8Array; count: number } | undefined {
  const p = cmd.regex.program;
  const subj = subjectFor(p, line);
  const nmatch = registersNeeded(cmd.replacement);
  const out: number[] = [];
  let start = 0; // copied up to here
  let from = 0; // search from here
  let found = 0; // matches seen (for the number flag)
  let replaced = 0;
  let prevEnd = -1;
  for (;;) {
    if (from > line.length) break;
    const m = search(p, subj, from);
    if (m === undefined) break;
    const [ms, me] = m;
    if (ms === me && ms === prevEnd) {
      // an empty match right where the previous match ended does not count (GNU sed)
      from = ms + 1;
      continue;
    }
    found++;
    for (let i = start; i < ms; i++) out.push(line[i]!);
    if (found >= cmd.occurrence) {
      const regs = nmatch > 1 ? captures(p, subj, ms, me, nmatch) : ([ms, me] as [number, number]);
      appendReplacement(out, cmd.replacement, line, regs);
      replaced++;
    } else {
      for (let i = ms; i < me; i++) out.push(line[i]!);
    }
    start = me;
    prevEnd = me;
    from = ms === me ? me + 1 : me;
    if (ms === me && me < line.length) {
      out.push(line[me]!);
      start = me + 1;
    }
    if (replaced > 0 && !cmd.global) break;
  }
  if (replaced === 0) return undefined;
  for (let i = start; i < line.length; i++) out.push(line[i]!);
  return { line: Uint8Array.from(out), count: replaced };
}

function selects(cmd: SedCommand, line: Uint8Array, lineNo: number, isLast: boolean): boolean {
  const a = cmd.address;
  if (a === undefined) return true;
  let hit: boolean;
  if ('line' in a) hit = a.line === lineNo;
  else if ('last' in a) hit = isLast;
  else hit = search(a.re.program, subjectFor(a.re.program, line), 0) !== undefined;
  return hit !== cmd.negate;
}

/**
 * Apply a script to a file's bytes as `LC_ALL=C sed -E` does: lines split on `\n` (a last line
 * without one stays without), each command in turn on each line. Returns the new bytes and, per
 * command, how many substitutions it made.
 */
export function applySed(script: SedScript, input: Uint8Array): { output: Uint8Array; counts: number[] } {
  const counts = script.commands.map(() => 0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  let pos = 0;
  let lineNo = 0;
  while (pos < input.length) {
    const nl = input.indexOf(0x0a, pos);
    const lineEnd = nl < 0 ? input.length : nl;
    let line = input.subarray(pos, lineEnd);
    pos = nl < 0 ? input.length : nl + 1;
    lineNo++;
    const isLast = pos >= input.length;
    script.commands.forEach((cmd, i) => {
      if (!selects(cmd, line, lineNo, isLast)) return;
      const r = substitute(cmd, line);
      if (r === undefined) return;
      line = r.line;
      counts[i] += r.count;
    });
    chunks.push(line);
    total += line.length;
    if (nl >= 0) {
      chunks.push(NEWLINE);
      total++;
    }
  }
  const output = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    output.set(c, o);
    o += c.length;
  }
  return { output, counts };
}

const NEWLINE = Uint8Array.of(0x0a);
