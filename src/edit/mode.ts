import { invalid } from './check.js';

/**
 * A permission mode as edits take it: an octal string ("0644", "644", "0o4755"), a number (the
 * value itself, 0o644 === 420), or for chmod a symbolic mode as chmod(1) reads it
 * ("u+x,go-w", "a=rX", "g=u"). Symbolic modes need the current mode, so they are a function.
 */
export type ModeSpec = (current: number, isDir: boolean) => number;

const OCTAL = /^(?:0o)?0*([0-7]{1,4})$/i;

/** An octal mode string or number; `at` names the field for the message. */
export function parseOctalMode(v: unknown, at: string, numbers = true): number {
  if (typeof v === 'number') {
    if (!numbers) {
      // 644 in JSON is the decimal number (octal 01204): almost always meant as "0644".
      const meant = Number.isInteger(v) && v >= 0 && /^[0-7]{1,4}$/.test(String(v)) ? `; did you mean "${String(v).padStart(4, '0')}"?` : '';
      throw invalid(at, `write the mode as an octal string (${v} is the decimal number, octal "0${Math.trunc(v).toString(8)}"${meant}): JSON has no octal numbers`);
    }
    if (!Number.isInteger(v) || v < 0 || v > 0o7777) throw invalid(at, `mode ${v} out of range (0-0o7777)`);
    return v;
  }
  if (typeof v !== 'string') throw invalid(at, `expected an octal mode like "0644"`);
  const m = OCTAL.exec(v.trim());
  if (!m) throw invalid(at, `'${v}' is not an octal mode (0000-7777)`);
  return parseInt(m[1]!, 8);
}

/** Octal or symbolic (chmod). */
export function parseModeSpec(v: unknown, at: string, numbers = true): ModeSpec {
  if (typeof v === 'string' && !OCTAL.test(v.trim())) return parseSymbolic(v, at);
  const mode = parseOctalMode(v, at, numbers);
  return () => mode;
}

/** chmod(1) classes: the bits each may touch (u/g also their set-id bit, o the sticky bit). */
const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

/**
 * Symbolic modes as GNU chmod reads them, with a umask of 0 (an image has no umask): clauses
 * `[ugoa]*([-+=]([rwxXst]*|[ugo]))+` separated by commas.
 */
function parseSymbolic(text: string, at: string): ModeSpec {
  type Action = { op: '+' | '-' | '='; perms: string; copy?: 'u' | 'g' | 'o' };
  const clauses: Array<{ who: number; actions: Action[] }> = [];
  for (const clause of text.split(',')) {
    const m = /^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$/.exec(clause);
    if (!m) throw invalid(at, `'${text}' is not a mode (octal like 0644, or symbolic like u+x,go-w)`);
    let who = 0;
    for (const c of m[1]!) who |= WHO[c]!;
    if (who === 0) who = WHO['a']!;
    const actions: Action[] = [];
    const re = /([-+=])([ugo]|[rwxXst]*)/g;
    for (let a = re.exec(m[2]!); a; a = re.exec(m[2]!)) {
      const perms = a[2]!;
      const action: Action = { op: a[1] as Action['op'], perms };
      if (perms === 'u' || perms === 'g' || perms === 'o') action.copy = perms;
      actions.push(action);
    }
    clauses.push({ who, actions });
  }
  return (current: number, isDir: boolean): number => {
    let mode = current & 0o7777;
    for (const { who, actions } of clauses) {
      for (const a of actions) {
        let bits = 0;
        if (a.copy) {
          const shift = a.copy === 'u' ? 6 : a.copy === 'g' ? 3 : 0;
          bits = ((mode >> shift) & 7) * 0o111;
        } else {
          for (const p of a.perms) {
            if (p === 'r') bits |= 0o444;
            else if (p === 'w') bits |= 0o222;
            else if (p === 'x') bits |= 0o111;
            else if (p === 'X') bits |= isDir || (mode & 0o111) !== 0 ? 0o111 : 0;
            else if (p === 's') bits |= 0o6000;
            else if (p === 't') bits |= 0o1000;
          }
        }
        bits &= who;
        if (a.op === '+') mode |= bits;
        else if (a.op === '-') mode &= ~bits;
        else {
          // '=' clears the class first; GNU chmod keeps a directory's set-id bits unless named.
          let clear = who;
          if (isDir) clear &= ~0o6000;
          mode = (mode & ~clear) | bits;
        }
      }
    }
    return mode & 0o7777;
  };
}

export function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
