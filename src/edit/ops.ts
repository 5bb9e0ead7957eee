import { ExtimgError } from '../errors.js';
import { BytesContent, type ByteRange, type FileContent } from '../tree/content.js';
import type { FileNode, Node } from '../tree/node.js';
import { MAX_TIME, MIN_TIME, type MetaInput, type Tree } from '../tree/tree.js';
import {
  checkObject,
  child,
  describe,
  invalid,
  isObject,
  optBoolean,
  optInteger,
  optString,
  reqPath,
  reqString,
} from './check.js';
import { applyDeviceTable, parseDeviceTable } from './devtable.js';
import { parseModeSpec, parseOctalMode, type ModeSpec } from './mode.js';
import { parseOwnerSpec, readContent, resolveOwner, type OwnerSpec } from './owner.js';
import { checkHashSyntax, hashPassword, schemeForImage, type PasswordScheme } from './crypt.js';
import { applySed, parseSedScript, type SedScript } from './sed.js';
import { applySysusers, parseSysusers, prepareAccountFiles } from './sysusers.js';

/**
 * Edits: a typed list of changes applied to a tree after the inputs, in order. The same list
 * comes from CLI options (`--mknod /dev/xvda:b:220:0`), from a recipe's `edits` array or from
 * library callers.
 */

/** Mode: an octal string ("0644"), a number (0o644), or for chmod a symbolic mode ("u+x"). */
export type ModeValue = string | number;

/** Owner fields any creating edit takes: `owner: "UID:GID" | "USER:GROUP"`, or `uid`/`gid`. */
export interface OwnerFields {
  owner?: string;
  uid?: number;
  gid?: number;
}

/** Content from exactly one of: a host file, UTF-8 text, base64 bytes. */
export interface ContentFields {
  /** A host file, read when the image is written (write) or when the edit applies (append). */
  source?: string;
  content?: string;
  contentBase64?: string;
}

export interface WriteEdit extends OwnerFields, ContentFields {
  op: 'write';
  path: string;
  mode?: ModeValue;
  /** Modification time, seconds since the epoch (atime and ctime follow). */
  mtime?: number;
}
export interface AppendEdit extends OwnerFields, ContentFields {
  op: 'append';
  path: string;
  mode?: ModeValue;
  mtime?: number;
}
export interface MkdirEdit extends OwnerFields {
  op: 'mkdir';
  path: string;
  mode?: ModeValue;
  mtime?: number;
}
export interface SymlinkEdit extends OwnerFields {
  op: 'symlink';
  path: string;
  target: string;
  mtime?: number;
}
export interface LinkEdit {
  op: 'link';
  /** The new name. */
  path: string;
  /** The existing file it becomes another name of. */
  target: string;
}
export interface MknodEdit extends OwnerFields {
  op: 'mknod';
  path: string;
  /** c character device, b block device, p FIFO, s socket. */
  type: 'c' | 'b' | 'p' | 's';
  major?: number;
  minor?: number;
  mode?: ModeValue;
  mtime?: number;
}
export interface ChmodEdit {
  op: 'chmod';
  path: string;
  mode: ModeValue;
  /** Change a symlink itself rather than what it points to (default: follow, as chmod(1)). */
  follow?: boolean;
}
export interface ChownEdit extends OwnerFields {
  op: 'chown';
  path: string;
  follow?: boolean;
}
export interface RemoveEdit {
  op: 'remove';
  path: string;
  /** Remove a non-empty directory with everything below it. */
  recursive?: boolean;
  /** A missing path is not an error. */
  force?: boolean;
}
export interface RenameEdit {
  /** rename: exactly rename(2), `to` is the new name. move: as mv(1), into `to` when it is a directory. */
  op: 'rename' | 'move';
  from: string;
  to: string;
}
export interface DevicesEdit {
  op: 'devices';
  /** A genext2fs device table on the host. */
  source: string;
  /** Where the table's '/' is in the image (default '/'). */
  dest?: string;
}

/** Users and groups from systemd-sysusers lines (sysusers.d(5)): a host file or the text. */
export interface SysusersEdit {
  op: 'sysusers';
  source?: string;
  content?: string;
}
/**
 * A user's password in /etc/shadow: hashed from `password` (never written in clear), taken as a
 * crypt(3) `hash`, or locked (`lock`, as `usermod -L`: a '!' before the hash).
 */
export interface PasswordEdit {
  op: 'password';
  user: string;
  password?: string;
  /** A host file holding the clear text (its first line): kept out of command lines and recipes. */
  source?: string;
  hash?: string;
  lock?: boolean;
  /** yescrypt, sha512crypt or sha256crypt; default: what the image's distribution uses. */
  scheme?: PasswordScheme;
}
/** `s/RE/REPLACEMENT/FLAGS` commands (POSIX ERE, as `sed -E`) on a file's bytes; each must match. */
export interface SedEdit {
  op: 'sed';
  path: string;
  script: string;
}

export type Edit =
  | SysusersEdit
  | PasswordEdit
  | SedEdit
  | WriteEdit
  | AppendEdit
  | MkdirEdit
  | SymlinkEdit
  | LinkEdit
  | MknodEdit
  | ChmodEdit
  | ChownEdit
  | RemoveEdit
  | RenameEdit
  | DevicesEdit;

export type EditOp = Edit['op'];

const OWNER_KEYS = ['owner', 'uid', 'gid'] as const;
const CONTENT_KEYS = ['source', 'content', 'contentBase64'] as const;

/** The keys each op takes (the recipe JSON Schema is checked against this table). */
export const EDIT_KEYS: Readonly<Record<EditOp, readonly string[]>> = {
  write: ['op', 'path', ...CONTENT_KEYS, 'mode', ...OWNER_KEYS, 'mtime'],
  append: ['op', 'path', ...CONTENT_KEYS, 'mode', ...OWNER_KEYS, 'mtime'],
  mkdir: ['op', 'path', 'mode', ...OWNER_KEYS, 'mtime'],
  symlink: ['op', 'path', 'target', ...OWNER_KEYS, 'mtime'],
  link: ['op', 'path', 'target'],
  mknod: ['op', 'path', 'type', 'major', 'minor', 'mode', ...OWNER_KEYS, 'mtime'],
  chmod: ['op', 'path', 'mode', 'follow'],
  chown: ['op', 'path', ...OWNER_KEYS, 'follow'],
  remove: ['op', 'path', 'recursive', 'force'],
  rename: ['op', 'from', 'to'],
  move: ['op', 'from', 'to'],
  devices: ['op', 'source', 'dest'],
  sysusers: ['op', 'source', 'content'],
  password: ['op', 'user', 'password', 'source', 'hash', 'lock', 'scheme'],
  sed: ['op', 'path', 'script'],
};

export const EDIT_OPS = Object.keys(EDIT_KEYS) as EditOp[];

/** Host access for `source` fields; the CLI passes one backed by node:fs. */
export interface HostFiles {
  /** A regular host file as content read later (the writer reads it once). */
  file(path: string): FileContent;
  /** A host file's bytes now (appended files, device tables). */
  readFile(path: string): Uint8Array;
  /**
   * When the host path is a device node, FIFO or socket: what it is, so `write` makes the same
   * node as `cp -a /dev/tty dev/` would (type, numbers, permission bits, owner). Else undefined.
   */
  special?(path: string): HostSpecial | undefined;
}

export interface HostSpecial {
  kind: 'chr' | 'blk' | 'fifo' | 'socket';
  major: number;
  minor: number;
  /** Permission bits (07777). */
  mode: number;
  uid: number;
  gid: number;
}

export interface EditOptions {
  host?: HostFiles;
  onWarning?: (message: string) => void;
  /**
   * Prefix for messages about the list: 'image.json: edits' gives
   * `image.json: edits[3] (chmod /etc/shadow): no such file or directory`. Default 'edits'.
   */
  where?: string;
  /**
   * The edits come from JSON: numbers are refused as modes (JSON has no octal, so a 644 there
   * is almost always meant as "644"). Default false.
   */
  json?: boolean;
  /** Resolve host paths (`source`) written relative to something (a recipe's directory). */
  resolveHostPath?: (path: string) => string;
  /**
   * The build's time (seconds): shadow's last-change day, and with it password salts are derived
   * (reproducible builds) instead of random.
   */
  timestamp?: number;
  /** The password scheme for `password` edits that name none (`--password-scheme`). */
  passwordScheme?: PasswordScheme;
}

/** An edit checked and with its values parsed, ready to apply. */
export interface PreparedEdit {
  edit: Edit;
  /** How messages name it: `edits[3] (chmod /etc/shadow)` or `--chmod '/etc/shadow=600'`. */
  label: string;
  apply(tree: Tree, options: EditOptions): void;
}

/** Check every edit (all of them, before any applies), then apply them in order. */
export function applyEdits(tree: Tree, edits: readonly unknown[], options: EditOptions = {}): void {
  const prepared = prepareEdits(edits, options);
  for (const p of prepared) applyPreparedEdit(tree, p, options);
}

export function prepareEdits(edits: readonly unknown[], options: EditOptions = {}): PreparedEdit[] {
  const where = options.where ?? 'edits';
  return edits.map((e, i) => prepareEdit(e, `${where}[${i}]`, options));
}

/** Apply one prepared edit; errors become one line naming the edit. */
export function applyPreparedEdit(tree: Tree, p: PreparedEdit, options: EditOptions = {}): void {
  try {
    p.apply(tree, options);
  } catch (e) {
    if (!(e instanceof ExtimgError)) throw e;
    throw new ExtimgError(e.code, `${p.label}: ${withoutPath(e.message, p.edit)}`, { ...e.data, edit: p.label });
  }
}

/** Tree messages start with the path; the label already names it. */
function withoutPath(message: string, edit: Edit): string {
  const path = 'path' in edit ? edit.path : 'from' in edit ? edit.from : undefined;
  if (path !== undefined && message.startsWith(`${path}: `)) return message.slice(path.length + 2);
  return message;
}

export function editLabel(edit: Edit): string {
  switch (edit.op) {
    case 'rename':
    case 'move':
      return `${edit.op} ${edit.from} -> ${edit.to}`;
    case 'devices':
      return `devices ${edit.source}`;
    case 'sysusers':
      return `sysusers ${edit.source ?? 'lines'}`;
    case 'password':
      return `password ${edit.user}`;
    default:
      return `${edit.op} ${edit.path}`;
  }
}

/**
 * Check one edit (from JSON or JS) and parse its values. `at` names it for messages about its
 * fields (`image.json: edits[2]` gives `image.json: edits[2].mdoe: unknown key`); `label`
 * (default `at (op path)`) names it when applying fails.
 */
export function prepareEdit(raw: unknown, at: string, options: EditOptions = {}, label?: string): PreparedEdit {
  if (!isObject(raw)) throw invalid(at, `expected an edit object ({"op": ..., ...}), got ${describe(raw)}`);
  const op = raw['op'];
  if (op === undefined) throw invalid(at, `missing 'op' (one of ${EDIT_OPS.join(', ')})`);
  if (typeof op !== 'string' || !Object.hasOwn(EDIT_KEYS, op)) {
    throw invalid(child(at, 'op'), `unknown op ${typeof op === 'string' ? `'${op}'` : describe(op)} (one of ${EDIT_OPS.join(', ')})`);
  }
  const o = checkObject(raw, at, EDIT_KEYS[op as EditOp]);
  const json = options.json ?? false;
  const host = (p: string): string => (options.resolveHostPath ? options.resolveHostPath(p) : p);
  const edit = { ...o } as unknown as Edit;
  const make = (apply: PreparedEdit['apply']): PreparedEdit => {
    const name = label ?? `${at} (${editLabel(edit)})`;
    return { edit, label: name, apply };
  };

  switch (op as EditOp) {
    case 'write':
    case 'append': {
      const path = reqPath(o, 'path', at);
      const content = contentOf(o, at, host);
      const meta = metaOf(o, at, json, true);
      if (op === 'write') {
        return make((tree, opts) => {
          refuseDirectory(tree, path);
          const special = content.special(opts);
          if (special) {
            // cp -a semantics: the node itself, its permission bits and owner, unless the edit says.
            const m: MetaInput = { mode: special.mode, uid: special.uid, gid: special.gid, ...resolveMeta(tree, meta) };
            tree.mknod(path, special.kind, special.major, special.minor, m);
            return;
          }
          tree.writeFile(path, content.get(opts), resolveMeta(tree, meta));
        });
      }
      return make((tree, opts) => append(tree, path, content.bytes(opts), resolveMeta(tree, meta)));
    }
    case 'mkdir': {
      const path = reqPath(o, 'path', at);
      const meta = metaOf(o, at, json, true);
      return make((tree) => {
        const existing = tree.get(path, true);
        if (existing && existing.kind !== 'dir') {
          throw new ExtimgError('EEXIST', `exists and is not a directory (${existing.kind})`, { path });
        }
        tree.mkdir(path, resolveMeta(tree, meta));
      });
    }
    case 'symlink': {
      const path = reqPath(o, 'path', at);
      const target = reqString(o, 'target', at);
      if (target === '') throw invalid(child(at, 'target'), 'empty symlink target');
      const meta = metaOf(o, at, json, false);
      return make((tree) => {
        refuseDirectory(tree, path);
        tree.symlink(path, target, resolveMeta(tree, meta));
      });
    }
    case 'link': {
      const path = reqPath(o, 'path', at);
      const target = reqPath(o, 'target', at);
      return make((tree) => {
        refuseDirectory(tree, path);
        tree.link(target, path);
      });
    }
    case 'mknod': {
      const path = reqPath(o, 'path', at);
      const type = reqString(o, 'type', at);
      if (!['c', 'b', 'p', 's'].includes(type)) throw invalid(child(at, 'type'), `'${type}' is not a node type (c, b, p or s)`);
      const major = optInteger(o, 'major', at, 0, 0xfff);
      const minor = optInteger(o, 'minor', at, 0, 0xfffff);
      const device = type === 'c' || type === 'b';
      if (device && (major === undefined || minor === undefined)) {
        throw invalid(at, `missing '${major === undefined ? 'major' : 'minor'}' (a ${type === 'c' ? 'character' : 'block'} device needs both)`);
      }
      if (!device && (major !== undefined || minor !== undefined)) {
        throw invalid(child(at, major !== undefined ? 'major' : 'minor'), `a ${type === 'p' ? 'FIFO' : 'socket'} has no device numbers`);
      }
      const kind = ({ c: 'chr', b: 'blk', p: 'fifo', s: 'socket' } as const)[type as 'c' | 'b' | 'p' | 's'];
      const meta = metaOf(o, at, json, true);
      return make((tree) => {
        refuseDirectory(tree, path);
        tree.mknod(path, kind, major ?? 0, minor ?? 0, resolveMeta(tree, meta));
      });
    }
    case 'chmod': {
      const path = reqPath(o, 'path', at);
      if (o['mode'] === undefined) throw invalid(at, `missing 'mode'`);
      const spec: ModeSpec = parseModeSpec(o['mode'], child(at, 'mode'), !json);
      const follow = optBoolean(o, 'follow', at) ?? true;
      return make((tree) => {
        const node = mustGet(tree, path, follow);
        tree.chmod(path, spec(node.meta.mode, node.kind === 'dir'), follow);
      });
    }
    case 'chown': {
      const owner = ownerOf(o, at);
      if (!owner) throw invalid(at, `missing 'owner' (or 'uid'/'gid')`);
      const path = reqPath(o, 'path', at);
      const follow = optBoolean(o, 'follow', at) ?? true;
      return make((tree) => {
        mustGet(tree, path, follow);
        const ids = resolveOwnerFields(tree, owner);
        tree.chown(path, ids.uid, ids.gid, follow);
      });
    }
    case 'remove': {
      const path = reqPath(o, 'path', at);
      const recursive = optBoolean(o, 'recursive', at) ?? false;
      const force = optBoolean(o, 'force', at) ?? false;
      return make((tree) => tree.remove(path, { recursive, force }));
    }
    case 'rename':
    case 'move': {
      const from = reqPath(o, 'from', at);
      const to = reqPath(o, 'to', at);
      return make((tree) => {
        let dest = to;
        if (op === 'move') {
          const src = tree.get(from, false);
          const into = tree.get(to, true);
          if (src && into?.kind === 'dir' && into !== src) dest = `${to.replace(/\/+$/, '')}/${baseName(from)}`;
        }
        tree.rename(from, dest);
      });
    }
    case 'sysusers': {
      const source = optString(o, 'source', at);
      const text = optString(o, 'content', at);
      if ((source === undefined) === (text === undefined)) throw invalid(at, `give exactly one of 'source' (a sysusers.d file) or 'content' (its lines)`);
      const origin = source ?? `${at}.content`;
      // Lines from the recipe are checked now; a file when it is read.
      const given = text !== undefined ? parseSysusers(text, origin) : undefined;
      return make((tree, opts) => {
        const lines = given ?? parseSysusers(new TextDecoder().decode(hostFiles(opts).readFile(host(source!))), source!);
        applySysusers(tree, lines, { ...(opts.onWarning ? { onWarning: opts.onWarning } : {}), ...todayOf(opts) });
      });
    }
    case 'password': {
      // Messages about a bad value show the value; a password's must never be shown.
      for (const key of ['password', 'hash'] as const) {
        if (o[key] !== undefined && typeof o[key] !== 'string') throw invalid(child(at, key), 'expected a string (the value is not shown)');
      }
      const user = reqString(o, 'user', at);
      if (!/^[a-z_][a-z0-9_.-]*\$?$/i.test(user)) throw invalid(child(at, 'user'), `'${user}' is not a user name`);
      const password = optString(o, 'password', at);
      const source = optString(o, 'source', at);
      const hash = optString(o, 'hash', at);
      const lock = optBoolean(o, 'lock', at) ?? false;
      const scheme = optString(o, 'scheme', at);
      if ((password !== undefined ? 1 : 0) + (source !== undefined ? 1 : 0) + (hash !== undefined ? 1 : 0) + (lock ? 1 : 0) !== 1) {
        throw invalid(at, `give exactly one of 'password', 'source' (a file holding it), 'hash' or 'lock': true`);
      }
      if (source === '') throw invalid(child(at, 'source'), 'empty path');
      if (scheme !== undefined && !PASSWORD_SCHEMES.includes(scheme as PasswordScheme)) {
        throw invalid(child(at, 'scheme'), `'${scheme}' is not a scheme (${PASSWORD_SCHEMES.join(', ')})`);
      }
      if (hash !== undefined) {
        const c = checkHashSyntax(hash);
        if (!c.ok) throw invalid(child(at, 'hash'), `not a crypt(3) hash: ${c.why}`);
      }
      return make((tree, opts) => {
        let clear = password;
        if (source !== undefined) {
          // The first line of the file, as `chpasswd`-style secrets files hold it.
          const text = new TextDecoder().decode(hostFiles(opts).readFile(host(source)));
          clear = text.split(/\r?\n/)[0]!;
          if (clear === '') throw new ExtimgError('EINVAL', `${source}: its first line is empty: no password to set`, { path: source });
        }
        setPassword(tree, user, { password: clear, hash, lock, scheme: (scheme as PasswordScheme | undefined) ?? opts.passwordScheme }, opts);
      });
    }
    case 'sed': {
      const path = reqPath(o, 'path', at);
      const text = reqString(o, 'script', at);
      let script: SedScript;
      try {
        script = parseSedScript(text);
      } catch (e) {
        if (e instanceof ExtimgError) throw invalid(child(at, 'script'), e.message);
        throw e;
      }
      return make((tree) => sedFile(tree, path, script));
    }
    case 'devices': {
      const source = host(reqPath(o, 'source', at));
      const dest = optString(o, 'dest', at);
      return make((tree, opts) => {
        const text = new TextDecoder().decode(hostFiles(opts).readFile(source));
        const entries = parseDeviceTable(text, source);
        applyDeviceTable(tree, entries, source, { ...(dest !== undefined ? { dest } : {}), ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
      });
    }
  }
}

// ---- system setup -------------------------------------------------------------------------

const PASSWORD_SCHEMES: readonly PasswordScheme[] = ['yescrypt', 'sha512crypt', 'sha256crypt'];
const SHADOW = '/etc/shadow';

function todayOf(opts: EditOptions): { today?: number } {
  return opts.timestamp !== undefined ? { today: Math.floor(opts.timestamp / 86_400) } : {};
}

function textOf(tree: Tree, path: string): string | undefined {
  const node = tree.get(path, true);
  return node?.kind === 'file' ? new TextDecoder().decode(readContent(node.content)) : undefined;
}

/**
 * The shadow entry of `user`: its password field hashed (salt derived from the build's time and
 * the user when reproducible), replaced by a given hash, or locked; its last-change day set, as
 * passwd(1) does. The account files are made first when missing (as applySysusers does).
 */
function setPassword(
  tree: Tree,
  user: string,
  p: { password: string | undefined; hash: string | undefined; lock: boolean; scheme: PasswordScheme | undefined },
  opts: EditOptions,
): void {
  prepareAccountFiles(tree, todayOf(opts));
  const passwd = textOf(tree, '/etc/passwd') ?? '';
  if (!passwd.split('\n').some((l) => l.split(':')[0] === user)) {
    throw new ExtimgError('ENOENT', `no user '${user}' in the image's /etc/passwd (add it first: sysusers)`, { user });
  }
  const node = tree.get(SHADOW, true);
  if (node?.kind !== 'file') throw new ExtimgError('ENOENT', `the image has no ${SHADOW}`, { path: SHADOW });
  const lines = new TextDecoder().decode(readContent(node.content)).split('\n');
  const k = lines.findIndex((l) => l.split(':')[0] === user);
  if (k < 0) throw new ExtimgError('ENOENT', `no entry for '${user}' in ${SHADOW}`, { user });
  const fields = lines[k]!.split(':');
  while (fields.length < 9) fields.push('');
  if (p.lock) {
    if (!fields[1]!.startsWith('!')) fields[1] = `!${fields[1]}`;
  } else {
    let hash = p.hash;
    if (hash === undefined) {
      const scheme = p.scheme ?? pamScheme(textOf(tree, '/etc/pam.d/common-password'), false) ?? pamScheme(textOf(tree, '/usr/share/pam-configs/unix'), true) ?? schemeForImage(textOf(tree, '/etc/os-release') ?? textOf(tree, '/usr/lib/os-release'), textOf(tree, '/etc/login.defs'));
      const seed = opts.timestamp !== undefined ? new TextEncoder().encode(`extimg password salt ${opts.timestamp}`) : undefined;
      hash = hashPassword(p.password!, scheme, { ...(seed ? { seed } : {}), user });
    }
    fields[1] = hash;
    const today = todayOf(opts).today ?? Math.floor(Date.now() / 86_400_000);
    fields[2] = String(today);
  }
  lines[k] = fields.join(':');
  (node as FileNode).content = new BytesContent(new TextEncoder().encode(lines.join('\n')));
}

/**
 * The hash pam_unix writes when passwd(1) changes a password: its `yescrypt`, `sha512` or
 * `sha256` option in /etc/pam.d/common-password, or before pam-auth-update has made that file
 * (packages unpacked, not configured) in libpam-runtime's template /usr/share/pam-configs/unix.
 * Debian 11 and later say yescrypt there while login.defs still says ENCRYPT_METHOD SHA512,
 * which only shadow's own tools read when built without PAM.
 */
function pamScheme(text: string | undefined, template: boolean): PasswordScheme | undefined {
  for (const line of (text ?? '').split('\n')) {
    const t = line.trim();
    if (t.startsWith('#') || !t.includes('pam_unix.so') || (!template && !/^password\s/.test(t))) continue;
    const opts = t.split(/\s+/);
    if (opts.includes('yescrypt')) return 'yescrypt';
    if (opts.includes('sha512')) return 'sha512crypt';
    if (opts.includes('sha256')) return 'sha256crypt';
  }
  return undefined;
}

/** Run a sed script over a file's bytes; a command that replaced nothing is an error naming it. */
function sedFile(tree: Tree, path: string, script: SedScript): void {
  const node = mustGet(tree, path, true);
  if (node.kind !== 'file') throw new ExtimgError(node.kind === 'dir' ? 'EISDIR' : 'EINVAL', `is a ${kindName(node)}, not a regular file`, { path });
  const { output, counts } = applySed(script, readContent(node.content));
  const idle = counts.findIndex((n) => n === 0);
  if (idle >= 0) {
    const cmd = script.commands[idle]!;
    throw new ExtimgError('EINVAL', `'${cmd.text}' (command ${idle + 1} of the script) matched nothing in ${path}`, { path, command: cmd.text });
  }
  (node as FileNode).content = new BytesContent(output);
}

// ---- fields -------------------------------------------------------------------------------

interface MetaFields {
  mode?: number;
  owner?: OwnerFieldsParsed;
  mtime?: number;
}

type OwnerFieldsParsed = { spec?: OwnerSpec; uid?: number; gid?: number };

function metaOf(o: Record<string, unknown>, at: string, json: boolean, withMode: boolean): MetaFields {
  const meta: MetaFields = {};
  if (withMode && o['mode'] !== undefined) meta.mode = parseOctalMode(o['mode'], child(at, 'mode'), !json);
  const owner = ownerOf(o, at);
  if (owner) meta.owner = owner;
  const mtime = optInteger(o, 'mtime', at, MIN_TIME, MAX_TIME);
  if (mtime !== undefined) meta.mtime = mtime;
  return meta;
}

function ownerOf(o: Record<string, unknown>, at: string): OwnerFieldsParsed | undefined {
  const text = optString(o, 'owner', at);
  const uid = optInteger(o, 'uid', at, 0, 0xffffffff);
  const gid = optInteger(o, 'gid', at, 0, 0xffffffff);
  if (text !== undefined && (uid !== undefined || gid !== undefined)) {
    throw invalid(child(at, 'owner'), `give either 'owner' or 'uid'/'gid', not both`);
  }
  if (text !== undefined) return { spec: parseOwnerSpec(text, child(at, 'owner')) };
  if (uid === undefined && gid === undefined) return undefined;
  return { ...(uid !== undefined ? { uid } : {}), ...(gid !== undefined ? { gid } : {}) };
}

function resolveOwnerFields(tree: Tree, owner: OwnerFieldsParsed): { uid?: number; gid?: number } {
  if (owner.spec) return resolveOwner(tree, owner.spec);
  return { ...(owner.uid !== undefined ? { uid: owner.uid } : {}), ...(owner.gid !== undefined ? { gid: owner.gid } : {}) };
}

function resolveMeta(tree: Tree, m: MetaFields): MetaInput | undefined {
  const meta: MetaInput = {};
  if (m.mode !== undefined) meta.mode = m.mode;
  if (m.owner) Object.assign(meta, resolveOwnerFields(tree, m.owner));
  if (m.mtime !== undefined) meta.mtime = { sec: m.mtime, nsec: 0 };
  return Object.keys(meta).length ? meta : undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function contentOf(
  o: Record<string, unknown>,
  at: string,
  host: (p: string) => string,
): { get(opts: EditOptions): FileContent; bytes(opts: EditOptions): Uint8Array; special(opts: EditOptions): HostSpecial | undefined } {
  const given = CONTENT_KEYS.filter((k) => o[k] !== undefined);
  if (given.length === 0) throw invalid(at, `missing content: give one of 'source', 'content', 'contentBase64'`);
  if (given.length > 1) throw invalid(child(at, given[1]!), `give only one of 'source', 'content', 'contentBase64'`);
  const source = optString(o, 'source', at);
  if (source !== undefined) {
    if (source === '') throw invalid(child(at, 'source'), 'empty path');
    const path = host(source);
    return {
      get: (opts) => hostFiles(opts).file(path),
      bytes: (opts) => hostFiles(opts).readFile(path),
      special: (opts) => hostFiles(opts).special?.(path),
    };
  }
  let bytes: Uint8Array;
  const text = optString(o, 'content', at);
  if (text !== undefined) bytes = new TextEncoder().encode(text);
  else {
    const b64 = optString(o, 'contentBase64', at)!.replace(/\s+/g, '');
    if (!BASE64.test(b64)) throw invalid(child(at, 'contentBase64'), 'not base64 (A-Z a-z 0-9 + /, padded with =)');
    bytes = decodeBase64(b64);
  }
  return { get: () => new BytesContent(bytes), bytes: () => bytes, special: () => undefined };
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function hostFiles(opts: EditOptions): HostFiles {
  if (!opts.host) throw new ExtimgError('EINVAL', `host files ('source') are not available here`);
  return opts.host;
}

// ---- operations ---------------------------------------------------------------------------

function mustGet(tree: Tree, path: string, follow: boolean): Node {
  const node = tree.get(path, follow);
  if (!node) {
    const dangling = follow && tree.get(path, false)?.kind === 'symlink';
    throw new ExtimgError('ENOENT', dangling ? 'is a symlink to nothing (dangling)' : 'no such file or directory', { path });
  }
  return node;
}

/** Edits that create a non-directory never silently replace a directory (Tree would, if empty). */
function refuseDirectory(tree: Tree, path: string): void {
  if (tree.get(path, false)?.kind === 'dir') throw new ExtimgError('EISDIR', 'is a directory', { path });
}

/**
 * Append to a file, following symlinks as `>>` does, or create it. The old bytes are read
 * through content.open() and a new BytesContent holds old + new: the content of a FileNode
 * is replaced, so every hard link sees it. Holes of a sparse old content stay holes.
 */
function append(tree: Tree, path: string, more: Uint8Array, meta: MetaInput | undefined): void {
  const node = tree.get(path, true);
  if (!node) {
    if (tree.get(path, false)?.kind === 'symlink') throw new ExtimgError('ENOENT', 'is a symlink to nothing (dangling)', { path });
    tree.writeFile(path, new BytesContent(more), meta);
    return;
  }
  if (node.kind !== 'file') throw new ExtimgError(node.kind === 'dir' ? 'EISDIR' : 'EINVAL', `is a ${kindName(node)}, not a regular file`, { path });
  const old = node.content;
  const bytes = new Uint8Array(old.size + more.length);
  if (old.size > 0) bytes.set(readContent(old), 0);
  bytes.set(more, old.size);
  let ranges: ByteRange[] | undefined;
  if (old.dataRanges) {
    ranges = [...old.dataRanges];
    if (more.length > 0) ranges.push({ offset: old.size, length: more.length });
  }
  (node as FileNode).content = new BytesContent(bytes, ranges);
  if (meta) {
    if (meta.mode !== undefined) node.meta.mode = meta.mode;
    if (meta.uid !== undefined || meta.gid !== undefined) tree.chown(path, meta.uid, meta.gid);
    if (meta.mtime) tree.setTimes(path, { mtime: meta.mtime });
  }
}

function kindName(node: Node): string {
  return { dir: 'directory', file: 'file', symlink: 'symlink', chr: 'character device', blk: 'block device', fifo: 'FIFO', socket: 'socket' }[node.kind];
}

function baseName(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  const last = parts[parts.length - 1];
  if (last === undefined || last === '..') throw new ExtimgError('EINVAL', `cannot move '${path}' into a directory`, { path });
  return last;
}
