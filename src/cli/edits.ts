import { ExtimgError } from '../errors.js';
import { parseModeSpec, parseOctalMode } from '../edit/mode.js';
import { prepareEdit, type Edit, type PreparedEdit } from '../edit/ops.js';
import { parseOwnerSpec } from '../edit/owner.js';
import { parseInputSpec } from './inputs.js';
import { usageError } from './usage.js';

/**
 * Edit options of `extimg build`, applied after the inputs in command-line order. Each becomes
 * an Edit (src/edit/ops.ts) labelled by the option as written, so a failure reads
 * `extimg: --chmod '/etc/shadow=600': no such file or directory`.
 */
export const EDIT_OPTIONS = {
  write: { type: 'string', multiple: true },
  'write-text': { type: 'string', multiple: true },
  append: { type: 'string', multiple: true },
  'append-text': { type: 'string', multiple: true },
  mkdir: { type: 'string', multiple: true },
  symlink: { type: 'string', multiple: true },
  link: { type: 'string', multiple: true },
  mknod: { type: 'string', multiple: true },
  chmod: { type: 'string', multiple: true },
  chown: { type: 'string', multiple: true },
  rm: { type: 'string', multiple: true },
  'rm-f': { type: 'string', multiple: true },
  mv: { type: 'string', multiple: true },
  devices: { type: 'string', short: 'D', multiple: true },
  sysusers: { type: 'string', multiple: true },
  password: { type: 'string', multiple: true },
  'password-hash': { type: 'string', multiple: true },
  'password-file': { type: 'string', multiple: true },
  lock: { type: 'string', multiple: true },
  sed: { type: 'string', multiple: true },
} as const;

export type EditOptionName = keyof typeof EDIT_OPTIONS;

export function isEditOption(name: string): name is EditOptionName {
  return Object.hasOwn(EDIT_OPTIONS, name);
}

const CMD = 'build';

/** `--name 'value'` as messages quote it. */
export function optionLabel(name: EditOptionName, value: string): string {
  // A clear-text password is never shown, not even in an error message.
  // --password-hash too: a clear password given there by mistake must not be echoed either.
  if (name === 'password' || name === 'password-hash') return `--${name} '${value.slice(0, Math.max(0, value.indexOf('=')))}=…'`;
  return `--${name} '${value}'`;
}

/** Parse one edit option into a checked edit; a malformed value is a usage error (exit 2). */
export function parseEditOption(name: EditOptionName, value: string, hostPath: (p: string) => string = (p) => p): PreparedEdit {
  const label = optionLabel(name, value);
  const bad = (message: string): ExtimgError => usageError(`${label}: ${message}`, CMD);
  const pair = (what: string): [string, string] => {
    const eq = value.indexOf('=');
    if (eq < 0) throw bad(`expected ${what}`);
    const left = value.slice(0, eq);
    const right = value.slice(eq + 1);
    if (left === '') throw bad(`empty PATH in ${what}`);
    return [left, right];
  };
  const nonEmpty = (v: string, what: string): string => {
    if (v === '') throw bad(`empty ${what}`);
    return v;
  };
  let edit: Edit;
  switch (name) {
    case 'write': {
      const [path, src] = pair('PATH=SRC (a host file)');
      edit = { op: 'write', path, source: hostPath(nonEmpty(src, 'SRC')) };
      break;
    }
    case 'write-text': {
      const [path, text] = pair('PATH=TEXT');
      edit = { op: 'write', path, content: text };
      break;
    }
    case 'append': {
      const [path, src] = pair('PATH=SRC (a host file)');
      edit = { op: 'append', path, source: hostPath(nonEmpty(src, 'SRC')) };
      break;
    }
    case 'append-text': {
      const [path, text] = pair('PATH=TEXT');
      edit = { op: 'append', path, content: text };
      break;
    }
    case 'mkdir': {
      const m = /^(.+):((?:0o)?[0-7]{3,4})$/.exec(value);
      const path = m ? m[1]! : nonEmpty(value, 'PATH');
      edit = { op: 'mkdir', path };
      if (m) edit.mode = wrap(() => parseOctalMode(m[2], label), bad);
      break;
    }
    case 'symlink': {
      const [path, target] = pair('PATH=TARGET');
      edit = { op: 'symlink', path, target: nonEmpty(target, 'TARGET') };
      break;
    }
    case 'link': {
      const [path, target] = pair('PATH=EXISTING');
      edit = { op: 'link', path, target: nonEmpty(target, 'EXISTING') };
      break;
    }
    case 'mknod': {
      const dev = /^(.+):([cb]):(\d+):(\d+)(?::([^:]+))?$/.exec(value);
      const other = dev ? undefined : /^(.+):([ps])(?::([^:]+))?$/.exec(value);
      if (!dev && !other) throw bad('expected PATH:c|b:MAJOR:MINOR[:MODE] or PATH:p|s[:MODE] (e.g. /dev/xvda:b:220:0:0660)');
      if (dev) {
        const major = Number(dev[3]);
        const minor = Number(dev[4]);
        if (major > 0xfff) throw bad(`major ${dev[3]} out of range (0-4095)`);
        if (minor > 0xfffff) throw bad(`minor ${dev[4]} out of range (0-1048575)`);
        edit = { op: 'mknod', path: dev[1]!, type: dev[2] as 'c' | 'b', major, minor };
        if (dev[5] !== undefined) edit.mode = wrap(() => parseOctalMode(dev[5], label), bad);
      } else {
        edit = { op: 'mknod', path: other![1]!, type: other![2] as 'p' | 's' };
        if (other![3] !== undefined) edit.mode = wrap(() => parseOctalMode(other![3], label), bad);
      }
      break;
    }
    case 'chmod': {
      const [path, mode] = pair('PATH=MODE');
      wrap(() => parseModeSpec(nonEmpty(mode, 'MODE'), label), bad);
      edit = { op: 'chmod', path, mode };
      break;
    }
    case 'chown': {
      const [path, owner] = pair('PATH=OWNER (UID:GID or USER:GROUP)');
      wrap(() => parseOwnerSpec(owner, label), bad);
      edit = { op: 'chown', path, owner };
      break;
    }
    case 'rm':
      edit = { op: 'remove', path: nonEmpty(value, 'PATH'), recursive: true };
      break;
    case 'rm-f':
      edit = { op: 'remove', path: nonEmpty(value, 'PATH'), recursive: true, force: true };
      break;
    case 'mv': {
      const [from, to] = pair('FROM=TO');
      edit = { op: 'move', from, to: nonEmpty(to, 'TO') };
      break;
    }
    case 'sysusers':
      edit = { op: 'sysusers', source: hostPath(nonEmpty(value, 'FILE')) };
      break;
    case 'password': {
      const eq = value.indexOf('=');
      if (eq <= 0) throw bad('expected USER=PASSWORD');
      edit = { op: 'password', user: value.slice(0, eq), password: value.slice(eq + 1) };
      break;
    }
    case 'password-hash': {
      const eq = value.indexOf('=');
      if (eq <= 0) throw bad("expected USER=HASH (a crypt(3) hash such as '$y$j9T$...')");
      edit = { op: 'password', user: value.slice(0, eq), hash: value.slice(eq + 1) };
      break;
    }
    case 'password-file': {
      const eq = value.indexOf('=');
      if (eq <= 0) throw bad('expected USER=FILE (a host file whose first line is the password)');
      edit = { op: 'password', user: value.slice(0, eq), source: hostPath(nonEmpty(value.slice(eq + 1), 'FILE')) };
      break;
    }
    case 'lock':
      edit = { op: 'password', user: nonEmpty(value, 'USER'), lock: true };
      break;
    case 'sed': {
      const [path, script] = pair('PATH=SCRIPT (s/RE/REPLACEMENT/FLAGS)');
      edit = { op: 'sed', path, script: nonEmpty(script, 'SCRIPT') };
      break;
    }
    case 'devices': {
      // FILE or FILE:/PATH (genext2fs -D FILE:PATH): the table's '/' at PATH in the image.
      const spec = parseInputSpec(nonEmpty(value, 'FILE'), undefined, '--devices');
      edit = { op: 'devices', source: hostPath(spec.source) };
      if (spec.dest !== '/') edit.dest = spec.dest;
      break;
    }
  }
  return wrap(() => prepareEdit(edit, label, {}, label), bad);
}

/** Run `f`; a validation error (EINVAL) from it becomes a usage error with its reason. */
function wrap<T>(f: () => T, bad: (message: string) => ExtimgError): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ExtimgError && e.code === 'EINVAL') {
      const reason = e.message.replace(/^--[a-z-]+ '.*?'(?:\.[a-zA-Z]+)?: /s, '');
      throw bad(reason);
    }
    throw e;
  }
}
