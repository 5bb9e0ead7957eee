import { ExtimgError } from '../errors.js';
import { bytesToKey, keyToBytes, utf8 } from '../tree/names.js';
import { cloneMeta, type DirNode, type Node } from '../tree/node.js';
import type { Tree } from '../tree/tree.js';
import { readContent } from './owner.js';

/**
 * Users and groups from systemd-sysusers configuration (sysusers.d(5)), applied to a tree as
 * `systemd-sysusers --root=` does (systemd 252, src/sysusers/sysusers.c), with two steps around
 * it that a Debian system gets from its maintainer scripts:
 * - before: a missing /etc/passwd or /etc/group comes from base-passwd's masters (its preinst
 *   does `cp -p`), else a root-only minimum; then the shadow files are brought in line as
 *   `pwconv` and `grpconv` do (Debian's `shadowconfig on`), so that pwck and grpck pass;
 * - after: a new `u` user with a home under /home gets it from /etc/skel (`useradd -m`).
 *
 * Files are handled as byte strings (one char per byte, as tree keys), so bytes that are not
 * UTF-8 in existing entries survive.
 */

// ---- the configuration ---------------------------------------------------------------------

export type SysusersType = 'u' | 'g' | 'm' | 'r';

export interface SysusersLine {
  type: SysusersType;
  /** u, g: the user or group; m: the user. Absent for r. */
  name?: string;
  /** The ID field after specifiers, undefined when '-' or empty (for messages). */
  id?: string;
  /** u: an explicit UID. */
  uid?: number;
  /** u (`UID:GID`, `-:GID`), g: an explicit GID. */
  gid?: number;
  /** u (`UID:GROUP`): the primary group by name; it must exist or be created by a g line. */
  groupName?: string;
  /** u, g: take the id from the owner of this path in the image, if it is free. */
  idPath?: string;
  /** m: the group the user joins. */
  group?: string;
  /** r: an inclusive range of ids to allocate from. */
  range?: { first: number; last: number };
  gecos?: string;
  home?: string;
  shell?: string;
  /** Where the line came from: `origin:line` names it in messages. */
  origin: string;
  line: number;
}

/** User and group names: at most UT_NAMESIZE - 1 bytes (valid_user_group_name). */
const MAX_NAME = 31;
const UID_INVALID = 0xffffffff;

/**
 * Parse sysusers.d text: one item a line, `#` comments, fields split on whitespace with `'...'`
 * and `"..."` quoting and `\` escaping the next character (systemd's extract_many_words with
 * EXTRACT_UNQUOTE), '-' or an empty field meaning "not given", specifiers `%%`, `%T`, `%V`.
 * Throws ExtimgError('EINVAL') naming `origin:line`.
 */
export function parseSysusers(text: string, origin: string): SysusersLine[] {
  const out: SysusersLine[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = raw.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
    if (line === '' || line.startsWith('#')) return;
    out.push(parseLine(line, origin, index + 1));
  });
  return out;
}

function lineError(origin: string, line: number, message: string, data: Record<string, unknown> = {}): ExtimgError {
  return new ExtimgError('EINVAL', `${origin}:${line}: ${message}`, { origin, line, ...data });
}

function parseLine(text: string, origin: string, line: number): SysusersLine {
  const fail = (message: string): ExtimgError => lineError(origin, line, message);
  const words = splitWords(text, fail);
  if (words.length < 2) throw fail('missing the type and name columns');
  if (words.length > 6) throw fail(`trailing garbage '${words.slice(6).join(' ')}' after the shell column`);
  const [action, ...rest] = words as [string, ...string[]];
  const field = (i: number, what: string): string | undefined => {
    const v = rest[i];
    if (v === undefined || v === '' || v === '-') return undefined;
    return expandSpecifiers(v, what, fail);
  };
  if (action.length !== 1 || !'ugmr'.includes(action)) throw fail(`unknown line type '${action}' (u, g, m or r)`);
  const type = action as SysusersType;
  const item: SysusersLine = { type, origin, line };
  const name = field(0, 'name');
  if (name !== undefined && !validName(name)) throw fail(`'${name}' is not a valid user or group name`);
  const id = field(1, 'ID');
  if (id !== undefined) item.id = id;
  const gecos = field(2, 'GECOS');
  if (gecos !== undefined && (hasControl(gecos) || gecos.includes(':'))) throw fail(`'${gecos}' is not a valid GECOS field`);
  const home = field(3, 'home');
  const shell = field(4, 'shell');
  if (home !== undefined) item.home = checkPathField(home, 'home directory', fail);
  if (shell !== undefined) item.shell = checkPathField(shell, 'login shell', fail);
  if (gecos !== undefined) item.gecos = gecos;
  const noExtras = (): void => {
    if (gecos !== undefined || home !== undefined || shell !== undefined) {
      throw fail(`lines of type '${type}' take no ${gecos !== undefined ? 'GECOS' : home !== undefined ? 'home directory' : 'login shell'} field`);
    }
  };
  switch (type) {
    case 'r':
      if (name !== undefined) throw fail("lines of type 'r' take no name field");
      if (id === undefined) throw fail("lines of type 'r' need an ID range in the third field");
      noExtras();
      item.range = parseRange(id, fail);
      return item;
    case 'm':
      if (name === undefined) throw fail("lines of type 'm' need a user name in the second field");
      if (id === undefined) throw fail("lines of type 'm' need a group name in the third field");
      if (!validName(id)) throw fail(`'${id}' is not a valid user or group name`);
      noExtras();
      item.name = name;
      item.group = id;
      return item;
    case 'u':
      if (name === undefined) throw fail("lines of type 'u' need a user name in the second field");
      item.name = name;
      if (id !== undefined) parseUserId(item, id, fail);
      return item;
    case 'g':
      if (name === undefined) throw fail("lines of type 'g' need a group name in the second field");
      noExtras();
      item.name = name;
      if (id !== undefined) {
        if (id.startsWith('/')) item.idPath = simplifyPath(id);
        else item.gid = parseId(id, 'GID', fail);
      }
      return item;
  }
}

/** `UID`, `UID:GID`, `UID:GROUP`, `-:GID` or an absolute path (sysusers.c parse_line). */
function parseUserId(item: SysusersLine, id: string, fail: (m: string) => ExtimgError): void {
  if (id.startsWith('/')) {
    item.idPath = simplifyPath(id);
    return;
  }
  let uidPart = id;
  const colon = id.indexOf(':');
  if (colon >= 0) {
    uidPart = id.slice(0, colon);
    const gidPart = id.slice(colon + 1);
    if (isIdText(gidPart)) item.gid = parseId(gidPart, 'GID', fail);
    else if (validName(gidPart)) item.groupName = gidPart;
    else throw fail(`'${id}': '${gidPart}' is neither a GID nor a group name`);
  }
  if (uidPart !== '-') item.uid = parseId(uidPart, 'UID', fail);
}

function isIdText(s: string): boolean {
  return /^(0|[1-9][0-9]*)$/.test(s);
}

/** systemd's parse_uid: decimal, no sign, no leading zero; -1 and 65535 are not ids. */
function parseId(s: string, what: string, fail: (m: string) => ExtimgError): number {
  if (!isIdText(s)) throw fail(`'${s}' is not a valid ${what}`);
  const n = Number(s);
  if (n >= UID_INVALID) throw fail(`${what} ${s} out of range (0-4294967294)`);
  if (n === 0xffff) throw fail(`${what} 65535 is reserved (the 16-bit -1)`);
  return n;
}

function parseRange(s: string, fail: (m: string) => ExtimgError): { first: number; last: number } {
  const dash = s.indexOf('-');
  if (dash < 0) {
    const n = parseId(s, 'UID', fail);
    return { first: n, last: n };
  }
  const first = parseId(s.slice(0, dash), 'UID', fail);
  const last = parseId(s.slice(dash + 1), 'UID', fail);
  if (first > last) throw fail(`invalid UID range ${s}`);
  return { first, last };
}

/** extract_first_word(EXTRACT_UNQUOTE) repeated: quotes may start mid-word, `\` takes the next char. */
function splitWords(text: string, fail: (m: string) => ExtimgError): string[] {
  const words: string[] = [];
  let i = 0;
  const space = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
  for (;;) {
    while (space(text[i])) i++;
    if (i >= text.length) return words;
    let word = '';
    let quote: string | undefined;
    for (;;) {
      const c = text[i];
      if (c === undefined) {
        if (quote !== undefined) throw fail(`unterminated ${quote} quote`);
        break;
      }
      i++;
      if (c === '\\') {
        const next = text[i];
        if (next === undefined) throw fail('a backslash at the end of the line');
        word += next;
        i++;
      } else if (quote !== undefined) {
        if (c === quote) quote = undefined;
        else word += c;
      } else if (c === '"' || c === "'") quote = c;
      else if (space(c)) break;
      else word += c;
    }
    words.push(word);
  }
}

/** The specifiers that do not depend on the host: `%%`, `%T` (/tmp), `%V` (/var/tmp). */
function expandSpecifiers(value: string, what: string, fail: (m: string) => ExtimgError): string {
  if (!value.includes('%')) return value;
  return value.replace(/%(.?)/g, (_m, c: string) => {
    if (c === '%') return '%';
    if (c === 'T') return '/tmp';
    if (c === 'V') return '/var/tmp';
    if (c === '') throw fail(`the ${what} field '${value}' ends in a lone '%'`);
    throw fail(`specifier '%${c}' in the ${what} field is not supported (only %%, %T and %V: others describe the host, not the image)`);
  });
}

/** valid_user_group_name() in strict mode: [A-Za-z_][A-Za-z0-9_-]*, at most 31 characters. */
function validName(name: string): boolean {
  return name.length <= MAX_NAME && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name);
}

function hasControl(s: string): boolean {
  return /[\x00-\x1f\x7f]/.test(s);
}

/** path_simplify(): `//` and `/./` collapse, a trailing `/` goes; `..` stays (and is refused). */
function simplifyPath(p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  return `/${parts.join('/')}`;
}

/** valid_home() (and valid_shell(), the same rule): absolute, normalized, no ':' or controls. */
function checkPathField(value: string, what: string, fail: (m: string) => ExtimgError): string {
  const p = value.startsWith('/') ? simplifyPath(value) : value;
  if (!p.startsWith('/') || p.split('/').includes('..') || p.includes(':') || hasControl(p)) {
    throw fail(`'${value}' is not a valid ${what} field`);
  }
  return p;
}

// ---- /etc/passwd, group, shadow, gshadow as glibc reads and writes them ---------------------

/** One line of a file: an entry, or a NIS `+`/`-` line, kept in order. */
interface PasswdEntry {
  name: string;
  passwd: string;
  uid: number;
  gid: number;
  gecos: string;
  dir: string;
  shell: string;
}
interface GroupEntry {
  name: string;
  passwd: string;
  gid: number;
  members: string[];
}
interface ShadowEntry {
  name: string;
  passwd: string;
  /** -1 is written as an empty field (putspent). */
  fields: [lastchg: number, min: number, max: number, warn: number, inact: number, expire: number];
  /** undefined is written as an empty field. */
  flag: number | undefined;
}
interface GshadowEntry {
  name: string;
  passwd: string;
  admins: string[];
  members: string[];
}

const isNis = (name: string): boolean => name.startsWith('+') || name.startsWith('-');

/**
 * glibc's files parser: leading blanks skipped; empty and `#` lines dropped; fields split on
 * ':'; a line whose number fields are not numbers dropped (fgetpwent skips it, and
 * systemd-sysusers writes back only what it read).
 */
function entryLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const l = raw.replace(/^[ \t\r\f\v]+/, '');
    if (l === '' || l.startsWith('#')) continue;
    out.push(l);
  }
  return out;
}

/** strtoul() as INT_FIELD uses it: blanks and a sign allowed, digits required. */
function uintField(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = /^[ \t]*([+-]?)([0-9]+)$/.exec(s);
  if (!m) return undefined;
  const n = Number(m[2]) % 2 ** 32;
  return m[1] === '-' ? (2 ** 32 - n) % 2 ** 32 : n;
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const l of entryLines(text)) {
    const f = l.split(':');
    const name = f[0]!;
    if (isNis(name)) {
      out.push({ name, passwd: f[1] ?? '', uid: 0, gid: 0, gecos: f[4] ?? '', dir: f[5] ?? '', shell: f.slice(6).join(':') });
      continue;
    }
    const uid = uintField(f[2]);
    const gid = uintField(f[3]);
    if (uid === undefined || gid === undefined) continue;
    out.push({ name, passwd: f[1] ?? '', uid, gid, gecos: f[4] ?? '', dir: f[5] ?? '', shell: f.slice(6).join(':') });
  }
  return out;
}

/** putpwent(): NIS entries without ids; ':' or a newline inside a field is refused. */
function formatPasswd(e: PasswdEntry): string {
  checkFields('/etc/passwd', e.name, [e.name, e.passwd, e.gecos, e.dir, e.shell]);
  if (isNis(e.name)) return `${e.name}:${e.passwd}:::${e.gecos}:${e.dir}:${e.shell}\n`;
  return `${e.name}:${e.passwd}:${e.uid}:${e.gid}:${e.gecos}:${e.dir}:${e.shell}\n`;
}

function checkFields(file: string, name: string, fields: readonly string[]): void {
  for (const f of fields) {
    if (f.includes(':') || f.includes('\n')) {
      throw new ExtimgError('EINVAL', `${file}: the entry of '${keyToText(name)}' has a field with ':' in it (${keyToText(f)})`, { file });
    }
  }
}

/** parse_list(): members split on ',', blanks before each skipped, empty ones dropped. */
function parseList(s: string | undefined): string[] {
  if (s === undefined || s === '') return [];
  return s
    .split(',')
    .map((m) => m.replace(/^[ \t\r\f\v]+/, ''))
    .filter((m) => m !== '');
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const l of entryLines(text)) {
    const f = l.split(':');
    const name = f[0]!;
    const gid = isNis(name) ? (uintField(f[2]) ?? 0) : uintField(f[2]);
    if (gid === undefined) continue;
    out.push({ name, passwd: f[1] ?? '', gid, members: parseList(f.slice(3).join(':')) });
  }
  return out;
}

function formatGroup(e: GroupEntry): string {
  checkFields('/etc/group', e.name, [e.name, e.passwd, ...e.members]);
  const mem = e.members.join(',');
  return isNis(e.name) ? `${e.name}:${e.passwd}::${mem}\n` : `${e.name}:${e.passwd}:${e.gid}:${mem}\n`;
}

/** A shadow number field: empty is -1; else strtoul() cast to int (glibc's (long int)(int)). */
function shadowNumber(s: string | undefined): number | undefined | null {
  if (s === undefined || s === '') return -1;
  const n = uintField(s);
  if (n === undefined) return null;
  return n >= 2 ** 31 ? n - 2 ** 32 : n;
}

function parseShadow(text: string): ShadowEntry[] {
  const out: ShadowEntry[] = [];
  for (const l of entryLines(text)) {
    const f = l.split(':');
    const name = f[0]!;
    const nums = [2, 3, 4, 5, 6, 7].map((i) => shadowNumber(f[i]));
    const flag = shadowNumber(f.slice(8).join(':') || undefined);
    if (nums.includes(null) || flag === null) continue;
    out.push({
      name,
      passwd: f[1] ?? '',
      fields: nums as ShadowEntry['fields'],
      flag: flag === -1 ? undefined : flag,
    });
  }
  return out;
}

function formatShadow(e: ShadowEntry): string {
  checkFields('/etc/shadow', e.name, [e.name, e.passwd]);
  const nums = e.fields.map((n) => (n === -1 ? '' : String(n)));
  return `${e.name}:${e.passwd}:${nums.join(':')}:${e.flag === undefined ? '' : e.flag}\n`;
}

function parseGshadow(text: string): GshadowEntry[] {
  const out: GshadowEntry[] = [];
  for (const l of entryLines(text)) {
    const f = l.split(':');
    out.push({ name: f[0]!, passwd: f[1] ?? '', admins: parseList(f[2]), members: parseList(f.slice(3).join(':')) });
  }
  return out;
}

function formatGshadow(e: GshadowEntry): string {
  checkFields('/etc/gshadow', e.name, [e.name, e.passwd, ...e.admins, ...e.members]);
  return `${e.name}:${e.passwd}:${e.admins.join(',')}:${e.members.join(',')}\n`;
}

function keyToText(key: string): string {
  return new TextDecoder().decode(keyToBytes(key));
}

/** A JS string (from the configuration) as the byte string of its UTF-8. */
function textToKey(s: string): string {
  return bytesToKey(utf8(s));
}

// ---- reading and writing the files in the tree --------------------------------------------

const PASSWD = '/etc/passwd';
const GROUP = '/etc/group';
const SHADOW = '/etc/shadow';
const GSHADOW = '/etc/gshadow';

function readText(tree: Tree, path: string): string | undefined {
  const node = tree.get(path, true);
  if (node === undefined) return undefined;
  if (node.kind !== 'file') throw new ExtimgError('EISDIR', `${path}: is a ${node.kind}, not a file`, { path });
  return bytesToKey(readContent(node.content));
}

/**
 * Replace a file's content as a rewrite through a temporary file would: an existing file keeps
 * its mode and owner (sysusers' copy_rights), a new one gets `mode` and `uid:gid`.
 */
function writeText(tree: Tree, path: string, text: string, created: { mode: number; uid: number; gid: number }): void {
  const old = tree.get(path, true);
  const meta = old?.kind === 'file' ? { mode: old.meta.mode, uid: old.meta.uid, gid: old.meta.gid } : created;
  tree.writeFile(path, keyToBytes(text), meta);
}

// ---- login.defs -----------------------------------------------------------------------------

/** The image's /etc/login.defs as shadow's getdef.c reads it: `NAME value`, the last one wins. */
function readLoginDefs(tree: Tree): Map<string, string> {
  const defs = new Map<string, string>();
  let text: string | undefined;
  try {
    text = readText(tree, '/etc/login.defs');
  } catch {
    text = undefined;
  }
  if (text === undefined) return defs;
  for (const raw of text.split('\n')) {
    const m = /^[ \t]*([A-Za-z0-9_]+)[ \t]+(.*?)[ \t\r]*$/.exec(raw);
    if (!m) continue;
    defs.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  }
  return defs;
}

/** getdef_num(): strtol base 0 (decimal, 0octal, 0xhex); anything else gives the default. */
function defNumber(defs: Map<string, string>, name: string, dflt: number): number {
  const v = defs.get(name);
  if (v === undefined) return dflt;
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(v);
  if (!m) return dflt;
  const body = m[2]!;
  const n = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10);
  return m[1] === '-' ? -n : n;
}

/** systemd's compile-time SYSTEM_ALLOC_UID_MIN and SYSTEM_UID_MAX as Debian builds it (1, 999). */
const SYSTEM_ALLOC_MIN = 1;
const SYSTEM_ID_MAX = 999;

/**
 * The allocation range when no `r` line gives one, as upstream's read_login_defs() with
 * compat-mutable-uid-boundaries: SYS_UID_MIN up to the least of 999, SYS_UID_MAX and
 * SYS_GID_MAX (ids above 999 would not be read as system ids if login.defs went away).
 * Debian's systemd 252 is built without that option and always uses 1-999; the image's
 * login.defs is honoured here because a user who writes one means it.
 */
function defaultRange(defs: Map<string, string>): Array<[number, number]> {
  const get = (name: string, dflt: number): number => {
    const v = defs.get(name);
    if (v === undefined || !isIdText(v)) return dflt;
    const n = Number(v);
    if (n >= UID_INVALID || n === 0xffff) return dflt;
    return n === 0 ? 1 : n;
  };
  let uidMin = get('SYS_UID_MIN', SYSTEM_ALLOC_MIN);
  const uidMax = get('SYS_UID_MAX', SYSTEM_ID_MAX);
  const gidMax = get('SYS_GID_MAX', SYSTEM_ID_MAX);
  if (uidMin > uidMax) uidMin = Math.min(uidMax - 1, SYSTEM_ALLOC_MIN);
  const end = Math.min(SYSTEM_ID_MAX, uidMax, gidMax);
  return uidMin < end ? [[uidMin, end]] : [];
}

// ---- the starting files (base-passwd's preinst, pwconv, grpconv) ---------------------------

export interface PrepareOptions {
  /** Days since the epoch for shadow's last-change field (the build's timestamp). */
  today?: number;
}

function todayOf(today: number | undefined): number {
  return today ?? Math.floor(Date.now() / 86_400_000);
}

/** The gid of group 'shadow' in the tree's /etc/group, else 0: Debian's shadow files are root:shadow 0640. */
function shadowGid(tree: Tree): number {
  const text = readText(tree, GROUP);
  const g = text === undefined ? undefined : parseGroup(text).find((e) => e.name === 'shadow');
  return g?.gid ?? 0;
}

/**
 * Make the account files a system starts with, as Debian does before any package adds a
 * user: a missing /etc/passwd or /etc/group copied from /usr/share/base-passwd/*.master with
 * its mode, owner and times (base-passwd's preinst: `cp -p`), or a root-only minimum; then
 * /etc/shadow and /etc/gshadow completed as `pwconv` and `grpconv` do (passwords other than
 * `x` moved into them, an entry for every user and group, entries for no one removed; new
 * entries take PASS_MIN_DAYS, PASS_MAX_DAYS and PASS_WARN_AGE from login.defs). New shadow
 * files are 0640 root:shadow, as Debian's `shadowconfig on` leaves them. Nothing is written
 * when the files are already consistent. applySysusers calls this first.
 */
export function prepareAccountFiles(tree: Tree, options: PrepareOptions = {}): void {
  seedFile(tree, PASSWD, '/usr/share/base-passwd/passwd.master', 'root:*:0:0:root:/root:/bin/sh\n');
  seedFile(tree, GROUP, '/usr/share/base-passwd/group.master', 'root:*:0:\n');
  const defs = readLoginDefs(tree);
  pwconv(tree, defs, todayOf(options.today));
  grpconv(tree);
}

function seedFile(tree: Tree, path: string, master: string, minimum: string): void {
  if (tree.get(path, true) !== undefined) return;
  const m = tree.get(master, true);
  if (m?.kind === 'file') {
    const meta = cloneMeta(m.meta);
    tree.writeFile(path, m.content, meta);
    return;
  }
  tree.writeFile(path, minimum, { mode: 0o644, uid: 0, gid: 0 });
}

function pwconv(tree: Tree, defs: Map<string, string>, today: number): void {
  const passwdText = readText(tree, PASSWD) ?? '';
  const shadowText = readText(tree, SHADOW);
  const passwd = parsePasswd(passwdText);
  const names = new Set(passwd.map((p) => p.name));
  const shadow = parseShadow(shadowText ?? '').filter((s) => isNis(s.name) || names.has(s.name));
  let passwdChanged = false;
  const lastchg = today === 0 ? -1 : today;
  for (const p of passwd) {
    if (isNis(p.name)) continue;
    let s = shadow.find((e) => e.name === p.name);
    if (s && p.passwd === 'x') continue;
    if (!s) {
      const min = defNumber(defs, 'PASS_MIN_DAYS', -1);
      const max = defNumber(defs, 'PASS_MAX_DAYS', -1);
      const warn = defNumber(defs, 'PASS_WARN_AGE', -1);
      s = { name: p.name, passwd: '', fields: [-1, min, max, warn, -1, -1], flag: undefined };
      shadow.push(s);
    }
    s.passwd = p.passwd;
    s.fields[0] = lastchg;
    if (p.passwd !== 'x') {
      p.passwd = 'x';
      passwdChanged = true;
    }
  }
  const newShadow = shadow.map(formatShadow).join('');
  if (shadowText === undefined || newShadow !== shadowText) {
    writeText(tree, SHADOW, newShadow, { mode: 0o640, uid: 0, gid: shadowGid(tree) });
  }
  if (passwdChanged) writeText(tree, PASSWD, passwd.map(formatPasswd).join(''), { mode: 0o644, uid: 0, gid: 0 });
}

function grpconv(tree: Tree): void {
  const groupText = readText(tree, GROUP) ?? '';
  const gshadowText = readText(tree, GSHADOW);
  const group = parseGroup(groupText);
  const names = new Set(group.map((g) => g.name));
  const gshadow = parseGshadow(gshadowText ?? '').filter((s) => names.has(s.name));
  let groupChanged = false;
  for (const g of group) {
    if (isNis(g.name)) continue;
    let s = gshadow.find((e) => e.name === g.name);
    if (s) {
      if (g.passwd !== 'x') s.passwd = g.passwd;
    } else {
      s = { name: g.name, passwd: g.passwd, admins: [], members: [] };
      gshadow.push(s);
    }
    s.members = [...g.members];
    if (g.passwd !== 'x') {
      g.passwd = 'x';
      groupChanged = true;
    }
  }
  const newGshadow = gshadow.map(formatGshadow).join('');
  if (gshadowText === undefined || newGshadow !== gshadowText) {
    writeText(tree, GSHADOW, newGshadow, { mode: 0o640, uid: 0, gid: shadowGid(tree) });
  }
  if (groupChanged) writeText(tree, GROUP, group.map(formatGroup).join(''), { mode: 0o644, uid: 0, gid: 0 });
}

// ---- allocation as systemd-sysusers does it -------------------------------------------------

interface Item {
  type: 'u' | 'g';
  name: string;
  uid: number;
  gid: number;
  uidSet: boolean;
  gidSet: boolean;
  /** The GID must already exist (u with UID:GID): no clash check of the UID against groups. */
  strict: boolean;
  groupName?: string;
  uidPath?: string;
  gidPath?: string;
  gecos?: string;
  home?: string;
  shell?: string;
  todoUser: boolean;
  todoGroup: boolean;
  /** The line it came from; undefined for users and groups implied by m lines. */
  source?: SysusersLine;
}

export interface SysusersOptions {
  onWarning?: (message: string) => void;
  /** Days since the epoch for shadow's last-change field (from the build's timestamp). */
  today?: number;
}

export interface SysusersResult {
  users: Array<{ name: string; uid: number; gid: number }>;
  groups: Array<{ name: string; gid: number }>;
}

/** The id databases: first entry wins, as systemd's hashmap_put. */
interface Databases {
  userByName: Map<string, number>;
  userByUid: Map<number, string>;
  groupByName: Map<string, number>;
  groupByGid: Map<number, string>;
}

function loadDatabases(passwd: readonly PasswdEntry[], group: readonly GroupEntry[]): Databases {
  const db: Databases = { userByName: new Map(), userByUid: new Map(), groupByName: new Map(), groupByGid: new Map() };
  for (const p of passwd) {
    if (!db.userByName.has(p.name)) db.userByName.set(p.name, p.uid);
    if (!db.userByUid.has(p.uid)) db.userByUid.set(p.uid, p.name);
  }
  for (const g of group) {
    if (!db.groupByName.has(g.name)) db.groupByName.set(g.name, g.gid);
    if (!db.groupByGid.has(g.gid)) db.groupByGid.set(g.gid, g.name);
  }
  return db;
}

/**
 * Apply sysusers lines to the tree as `systemd-sysusers --root=` would, after
 * prepareAccountFiles, and create /home homes from /etc/skel for the users it adds. Where
 * systemd logs an error for one item and goes on (a named group that does not exist, no free
 * id), this throws instead and changes nothing. Returns the users and groups added.
 */
export function applySysusers(tree: Tree, lines: readonly SysusersLine[], options: SysusersOptions = {}): SysusersResult {
  const undo = snapshotEtc(tree);
  try {
    return applyInOrder(tree, lines, options);
  } catch (e) {
    undo();
    throw e;
  }
}

/** The four files' nodes as they are now, and a function that puts them back. */
function snapshotEtc(tree: Tree): () => void {
  const etc = tree.get('/etc', true);
  if (etc === undefined) return () => tree.remove('/etc', { recursive: true, force: true });
  if (etc.kind !== 'dir') return () => {};
  const names = ['passwd', 'group', 'shadow', 'gshadow'];
  const saved = names.map((n) => etc.entries.get(n));
  return () => {
    names.forEach((n, k) => {
      const node = saved[k];
      if (node === undefined) etc.entries.delete(n);
      else etc.entries.set(n, node);
    });
  };
}

function applyInOrder(tree: Tree, lines: readonly SysusersLine[], options: SysusersOptions): SysusersResult {
  const warn = options.onWarning ?? ((): void => {});
  const today = todayOf(options.today);
  prepareAccountFiles(tree, { today });
  const passwdText = readText(tree, PASSWD) ?? '';
  const groupText = readText(tree, GROUP) ?? '';
  const passwd = parsePasswd(passwdText);
  const group = parseGroup(groupText);
  const state = new Allocator(tree, loadDatabases(passwd, group), warn);
  state.collect(lines);
  state.process();
  writeGroupFiles(tree, state, group, groupText);
  writePasswdFiles(tree, state, passwd, today);
  const users = [...state.todoUids.values()].filter((i) => i.todoUser);
  makeHomes(tree, users, warn);
  return {
    users: users.map((i) => ({ name: i.name, uid: i.uid, gid: i.gid })),
    groups: [...state.todoGids.values()].map((i) => ({ name: i.name, gid: i.gid })),
  };
}

class Allocator {
  readonly users = new Map<string, Item>();
  readonly groups = new Map<string, Item>();
  /** Group name -> users to add, in the order the m lines name them. */
  readonly members = new Map<string, string[]>();
  readonly todoUids = new Map<number, Item>();
  readonly todoGids = new Map<number, Item>();
  private ranges: Array<[number, number]> = [];
  private rangesGiven = false;
  private searchUid = UID_INVALID;

  constructor(
    private readonly tree: Tree,
    private readonly db: Databases,
    private readonly warn: (m: string) => void,
  ) {}

  collect(lines: readonly SysusersLine[]): void {
    for (const l of lines) {
      if (l.type === 'r') {
        this.rangesGiven = true;
        this.ranges.push([l.range!.first, l.range!.last]);
      } else if (l.type === 'm') {
        const list = this.members.get(l.group!) ?? [];
        if (!list.includes(l.name!)) list.push(l.name!);
        this.members.set(l.group!, list);
      } else {
        this.addItem(l);
      }
    }
    if (!this.rangesGiven) this.ranges = defaultRange(readLoginDefs(this.tree));
    this.ranges.sort((a, b) => a[0] - b[0]);
    // Users and groups named only by m lines (sysusers.c add_implicit).
    for (const [g, list] of this.members) {
      for (const u of list) if (!this.users.has(u)) this.users.set(u, newItem('u', u));
      if (!this.users.has(g) && !this.groups.has(g)) this.groups.set(g, newItem('g', g));
    }
  }

  private addItem(l: SysusersLine): void {
    const item = newItem(l.type as 'u' | 'g', l.name!);
    item.source = l;
    if (l.uid !== undefined) {
      item.uid = l.uid;
      item.uidSet = true;
    }
    if (l.gid !== undefined) {
      item.gid = l.gid;
      item.gidSet = true;
      item.strict = l.type === 'u';
    }
    if (l.groupName !== undefined) item.groupName = l.groupName;
    if (l.idPath !== undefined) {
      if (l.type === 'u') item.uidPath = l.idPath;
      else item.gidPath = l.idPath;
    }
    if (l.gecos !== undefined) item.gecos = textToKey(l.gecos);
    if (l.home !== undefined) item.home = textToKey(l.home);
    if (l.shell !== undefined) item.shell = textToKey(l.shell);
    const map = l.type === 'u' ? this.users : this.groups;
    const existing = map.get(item.name);
    if (existing) {
      if (!equivalent(existing, item)) {
        this.warn(`${l.origin}:${l.line}: conflict with earlier configuration for ${l.type === 'u' ? 'user' : 'group'} '${item.name}', ignoring line`);
      }
      return;
    }
    map.set(item.name, item);
  }

  process(): void {
    for (const g of this.groups.values()) this.addGroup(g);
    for (const u of this.users.values()) this.processUser(u);
  }

  private fail(item: Item, message: string): ExtimgError {
    const at = item.source ? `${item.source.origin}:${item.source.line}: ` : '';
    return new ExtimgError('EINVAL', `${at}${message}`, { name: item.name });
  }

  private processUser(i: Item): void {
    let j = i.gidSet ? undefined : this.groups.get(i.groupName ?? i.name);
    if (!j?.todoGroup && !i.gidSet && i.groupName !== undefined) {
      // systemd 252 also finds a group that an earlier u line created (measured: `u c 5` then
      // `u a 7:c` gives a GID 5).
      j = [...this.todoGids.values()].find((x) => x.name === i.groupName);
    }
    if (j?.todoGroup) {
      // The group is being created by a g line: take its GID.
      i.gidSet = j.gidSet;
      i.gid = j.gid;
      i.strict = true;
    } else if (i.groupName !== undefined) {
      const gid = this.db.groupByName.get(i.groupName);
      if (gid === undefined) throw this.fail(i, `user '${i.name}': group '${i.groupName}' does not exist and no g line creates it`);
      i.gid = gid;
      i.gidSet = true;
      i.strict = true;
    } else {
      this.addGroup(i);
    }
    this.addUser(i);
  }

  private uidIsOk(uid: number, name: string, checkWithGid: boolean): boolean {
    if (this.todoUids.has(uid)) return false;
    if (checkWithGid) {
      const g = this.todoGids.get(uid);
      if (g && g.name !== name) return false;
    }
    if (this.db.userByUid.has(uid)) return false;
    if (checkWithGid) {
      const n = this.db.groupByGid.get(uid);
      if (n !== undefined && n !== name) return false;
    }
    return true;
  }

  private gidIsOk(gid: number, name: string, checkWithUid: boolean): boolean {
    if (this.todoGids.has(gid)) return false;
    if (checkWithUid) {
      const u = this.todoUids.get(gid);
      if (u && u.name !== name) return false;
    }
    if (this.db.groupByGid.has(gid)) return false;
    // Unlike uidIsOk, any existing user with this number counts, even one of the same name
    // (systemd 252: an existing user 'daemon' with UID 1 and no group gets a new GID, not 1).
    if (checkWithUid && this.db.userByUid.has(gid)) return false;
    return true;
  }

  private inRange(id: number): boolean {
    return this.ranges.some(([a, b]) => id >= a && id <= b);
  }

  /** uid_range_next_lower(): the highest id below the last one tried, in any range. */
  private nextLower(): number | undefined {
    if (this.searchUid === 0) return undefined;
    const candidate = this.searchUid - 1;
    let closest: number | undefined;
    for (const [a, b] of this.ranges) {
      if (candidate >= a && candidate <= b) return (this.searchUid = candidate);
      if (b < candidate && (closest === undefined || b > closest)) closest = b;
    }
    if (closest === undefined) return undefined;
    return (this.searchUid = closest);
  }

  /** The owner (uid) or group (gid) of a path in the image, as read_id_from_file() stats it. */
  private statId(path: string | undefined, which: 'uid' | 'gid'): number | undefined {
    if (path === undefined) return undefined;
    let node: Node | undefined;
    try {
      node = this.tree.get(path, true);
    } catch {
      return undefined;
    }
    return node?.meta[which];
  }

  private idFromFileForUser(i: Item): number | undefined {
    return this.statId(i.uidPath, 'uid') ?? this.statId(i.gidPath, 'gid');
  }

  private idFromFileForGroup(i: Item): number | undefined {
    return this.statId(i.gidPath, 'gid') ?? this.statId(i.uidPath, 'gid');
  }

  private addUser(i: Item): void {
    const existing = this.db.userByName.get(i.name);
    if (existing !== undefined) {
      i.uid = existing;
      i.uidSet = true;
      return;
    }
    if (i.uidSet && !this.uidIsOk(i.uid, i.name, !i.strict)) {
      this.warn(`suggested user ID ${i.uid} for ${i.name} already used`);
      i.uidSet = false;
    }
    if (!i.uidSet) {
      const c = this.idFromFileForUser(i);
      if (c !== undefined && c > 0 && this.inRange(c) && this.uidIsOk(c, i.name, true)) {
        i.uid = c;
        i.uidSet = true;
      }
    }
    if (!i.uidSet && i.gidSet && this.uidIsOk(i.gid, i.name, true)) {
      i.uid = i.gid;
      i.uidSet = true;
    }
    if (!i.uidSet) {
      for (;;) {
        const c = this.nextLower();
        if (c === undefined) throw this.fail(i, `no free user ID available for ${i.name}`);
        if (this.uidIsOk(c, i.name, true)) {
          i.uid = c;
          break;
        }
      }
      i.uidSet = true;
    }
    this.todoUids.set(i.uid, i);
    i.todoUser = true;
  }

  private addGroup(i: Item): void {
    const existing = this.db.groupByName.get(i.name);
    if (existing !== undefined) {
      i.gid = existing;
      i.gidSet = true;
      return;
    }
    if (i.gidSet) {
      const ok = this.gidIsOk(i.gid, i.name, false);
      if (i.strict) {
        if (ok) throw this.fail(i, `user '${i.name}': GID ${i.gid} does not exist (create it with a g line)`);
        return;
      }
      if (!ok) {
        this.warn(`suggested group ID ${i.gid} for ${i.name} already used`);
        i.gidSet = false;
      }
    }
    if (!i.gidSet && i.uidSet && this.gidIsOk(i.uid, i.name, true)) {
      i.gid = i.uid;
      i.gidSet = true;
    }
    if (!i.gidSet) {
      const c = this.idFromFileForGroup(i);
      if (c !== undefined && c > 0 && this.inRange(c) && this.gidIsOk(c, i.name, true)) {
        i.gid = c;
        i.gidSet = true;
      }
    }
    if (!i.gidSet) {
      for (;;) {
        const c = this.nextLower();
        if (c === undefined) throw this.fail(i, `no free group ID available for ${i.name}`);
        if (this.gidIsOk(c, i.name, true)) {
          i.gid = c;
          break;
        }
      }
      i.gidSet = true;
    }
    this.todoGids.set(i.gid, i);
    i.todoGroup = true;
  }
}

function newItem(type: 'u' | 'g', name: string): Item {
  return { type, name, uid: 0, gid: 0, uidSet: false, gidSet: false, strict: false, todoUser: false, todoGroup: false };
}

/** item_equivalent(), with nologin shells alike and no symlink resolution (it only decides a warning). */
function equivalent(a: Item, b: Item): boolean {
  const nologin = (s: string | undefined): boolean => s === undefined || /\/(nologin|false)$/.test(s);
  const shellsAlike = a.shell === b.shell || (a.type === 'u' && nologin(a.shell) && nologin(b.shell));
  return (
    a.uidPath === b.uidPath &&
    a.gidPath === b.gidPath &&
    a.gecos === b.gecos &&
    a.uidSet === b.uidSet &&
    (!a.uidSet || a.uid === b.uid) &&
    a.gidSet === b.gidSet &&
    (!a.gidSet || a.gid === b.gid) &&
    a.home === b.home &&
    shellsAlike
  );
}

// ---- writing the results --------------------------------------------------------------------

/** Members of `name` merged with those the m lines add: sorted and unique when any was added. */
function withMembers(current: readonly string[], added: readonly string[] | undefined): { list: string[]; changed: boolean } {
  if (!added) return { list: [...current], changed: false };
  const list = [...current];
  let changed = false;
  for (const m of added) {
    if (list.includes(m)) continue;
    list.push(m);
    changed = true;
  }
  if (!changed) return { list, changed };
  return { list: [...new Set(list)].sort(compareBytes), changed };
}

function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function writeGroupFiles(tree: Tree, s: Allocator, group: readonly GroupEntry[], groupText: string): void {
  if (s.todoGids.size === 0 && s.members.size === 0) return;
  let changed = false;
  let out = '';
  let nisAt = group.length;
  for (let k = 0; k < group.length; k++) {
    const g = group[k]!;
    if (s.groups.get(g.name)?.todoGroup || s.users.get(g.name)?.todoGroup) {
      throw new ExtimgError('EEXIST', `${GROUP}: group '${keyToText(g.name)}' already exists`, { group: g.name });
    }
    if (s.todoGids.has(g.gid)) throw new ExtimgError('EEXIST', `${GROUP}: collision for GID ${g.gid}`, { gid: g.gid });
    if (isNis(g.name)) {
      nisAt = k;
      break;
    }
    const m = withMembers(g.members, s.members.get(g.name));
    changed ||= m.changed;
    out += formatGroup({ ...g, members: m.list });
  }
  for (const i of s.todoGids.values()) {
    out += formatGroup({ name: i.name, passwd: 'x', gid: i.gid, members: withMembers([], s.members.get(i.name)).list });
    changed = true;
  }
  for (let k = nisAt; k < group.length; k++) out += formatGroup(group[k]!);
  if (changed && out !== groupText) writeText(tree, GROUP, out, { mode: 0o644, uid: 0, gid: 0 });

  const gshadowText = readText(tree, GSHADOW) ?? '';
  const gshadow = parseGshadow(gshadowText);
  let gout = '';
  let gchanged = false;
  for (const e of gshadow) {
    if (s.groups.get(e.name)?.todoGroup || s.users.get(e.name)?.todoGroup) {
      throw new ExtimgError('EEXIST', `${GSHADOW}: group '${keyToText(e.name)}' already exists`, { group: e.name });
    }
    const m = withMembers(e.members, s.members.get(e.name));
    gchanged ||= m.changed;
    gout += formatGshadow({ ...e, members: m.list });
  }
  for (const i of s.todoGids.values()) {
    // PASSWORD_LOCKED_AND_INVALID: no password, and none can be set by accident.
    gout += formatGshadow({ name: i.name, passwd: '!*', admins: [], members: withMembers([], s.members.get(i.name)).list });
    gchanged = true;
  }
  if (gchanged && gout !== gshadowText) writeText(tree, GSHADOW, gout, { mode: 0o640, uid: 0, gid: shadowGid(tree) });
}

/** The shell of a new user: given, else root's default (/bin/bash if the image has it), else nologin. */
function pickShell(tree: Tree, i: Item): string {
  if (i.shell !== undefined) return i.shell;
  if (i.uid === 0) {
    let bash: Node | undefined;
    try {
      bash = tree.get('/bin/bash', true);
    } catch {
      bash = undefined;
    }
    return bash ? '/bin/bash' : '/bin/sh';
  }
  return '/usr/sbin/nologin';
}

function writePasswdFiles(tree: Tree, s: Allocator, passwd: readonly PasswdEntry[], today: number): void {
  if (s.todoUids.size === 0) return;
  let out = '';
  let nisAt = passwd.length;
  for (let k = 0; k < passwd.length; k++) {
    const p = passwd[k]!;
    if (s.users.get(p.name)?.todoUser) {
      throw new ExtimgError('EEXIST', `${PASSWD}: user '${keyToText(p.name)}' already exists`, { user: p.name });
    }
    if (s.todoUids.has(p.uid)) throw new ExtimgError('EEXIST', `${PASSWD}: collision for UID ${p.uid}`, { uid: p.uid });
    if (isNis(p.name)) {
      nisAt = k;
      break;
    }
    out += formatPasswd(p);
  }
  for (const i of s.todoUids.values()) {
    out += formatPasswd({
      name: i.name,
      passwd: 'x',
      uid: i.uid,
      gid: i.gid,
      gecos: i.gecos ?? '',
      dir: i.home ?? '/',
      shell: pickShell(tree, i),
    });
  }
  for (let k = nisAt; k < passwd.length; k++) out += formatPasswd(passwd[k]!);
  writeText(tree, PASSWD, out, { mode: 0o644, uid: 0, gid: 0 });

  const shadowText = readText(tree, SHADOW);
  const shadow = parseShadow(shadowText ?? '');
  const todo = new Map([...s.todoUids.values()].map((i) => [i.name, i]));
  let sout = '';
  let sNisAt = shadow.length;
  for (let k = 0; k < shadow.length; k++) {
    const e = shadow[k]!;
    if (todo.has(e.name)) {
      // An entry left over for a user being created: it is kept, dated today (as sysusers does).
      e.fields[0] = today;
      todo.delete(e.name);
    }
    if (isNis(e.name)) {
      sNisAt = k;
      break;
    }
    sout += formatShadow(e);
  }
  for (const i of todo.values()) {
    sout += formatShadow({ name: i.name, passwd: '!*', fields: [today, -1, -1, -1, -1, -1], flag: undefined });
  }
  for (let k = sNisAt; k < shadow.length; k++) sout += formatShadow(shadow[k]!);
  writeText(tree, SHADOW, sout, { mode: 0o640, uid: 0, gid: shadowGid(tree) });
}

// ---- homes (useradd -m) ---------------------------------------------------------------------

/**
 * A new user whose home is under /home gets it as `useradd -m` makes it: the directory owned by
 * the user with mode HOME_MODE from the image's login.defs, else 0777 & ~UMASK (022 by default:
 * 0755, what Debian 12's login.defs gives), and /etc/skel's content copied into it with modes,
 * times and xattrs kept and the user as owner. A home that already exists is left alone, as
 * useradd does (with a warning).
 */
function makeHomes(tree: Tree, users: readonly Item[], warn: (m: string) => void): void {
  const homed = users.filter((i) => i.home !== undefined && i.home.startsWith('/home/'));
  if (homed.length === 0) return;
  const defs = readLoginDefs(tree);
  const umask = defNumber(defs, 'UMASK', 0o022);
  const mode = defNumber(defs, 'HOME_MODE', 0o777 & ~umask) & 0o7777;
  const skel = tree.get('/etc/skel', true);
  // Look first, create after: a path that cannot be a home fails before anything is made.
  const todo = homed.filter((i) => {
    if (tree.get(bytesToKeyPath(i.home!), true) === undefined) return true;
    warn(`home directory ${keyToText(i.home!)} of '${i.name}' already exists: nothing copied from /etc/skel`);
    return false;
  });
  for (const i of todo) {
    const dir = tree.mkdir(bytesToKeyPath(i.home!), { mode, uid: i.uid, gid: i.gid });
    if (skel?.kind === 'dir') copySkel(skel, dir, i.uid, i.gid, new Map());
  }
}

/** A home path (a byte string) as the tree takes paths: its bytes. */
function bytesToKeyPath(key: string): Uint8Array {
  return keyToBytes(key);
}

function copySkel(from: DirNode, to: DirNode, uid: number, gid: number, copies: Map<Node, Node>): void {
  for (const [name, node] of from.entries) {
    const meta = cloneMeta(node.meta);
    meta.uid = uid;
    meta.gid = gid;
    if (node.kind === 'dir') {
      const dir: DirNode = { kind: 'dir', meta, entries: new Map() };
      to.entries.set(name, dir);
      copySkel(node, dir, uid, gid, copies);
      continue;
    }
    // Hard links inside the skeleton stay hard links in the copy (useradd's copy_tree).
    let copy = copies.get(node);
    if (!copy) {
      copy = { ...node, meta } as Node;
      copies.set(node, copy);
    }
    to.entries.set(name, copy);
  }
}
