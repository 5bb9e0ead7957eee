import { ExtimgError } from '../errors.js';
import type { FileContent } from '../tree/content.js';
import type { Tree } from '../tree/tree.js';
import { invalid } from './check.js';

/**
 * An owner as chown(1) takes it: `USER:GROUP`, `USER`, `USER:` (the user's login group),
 * `:GROUP`. Numbers are ids; names are looked up in the image's own /etc/passwd and
 * /etc/group (never the host's), when the edit is applied, so an earlier input or edit can
 * provide them.
 */
export interface OwnerSpec {
  user?: number | string;
  group?: number | string;
  /** `USER:` — the group is the user's primary group from /etc/passwd. */
  loginGroup?: boolean;
  text: string;
}

const MAX_ID = 0xffffffff;

export function parseOwnerSpec(text: string, at: string): OwnerSpec {
  const colon = text.indexOf(':');
  const userPart = colon < 0 ? text : text.slice(0, colon);
  const groupPart = colon < 0 ? '' : text.slice(colon + 1);
  if (userPart === '' && groupPart === '') throw invalid(at, `'${text}' is not an owner (UID:GID, USER:GROUP, USER, :GROUP)`);
  const spec: OwnerSpec = { text };
  if (userPart !== '') spec.user = idOrName(userPart, text, at);
  if (groupPart !== '') spec.group = idOrName(groupPart, text, at);
  else if (colon >= 0) spec.loginGroup = true;
  return spec;
}

function idOrName(part: string, text: string, at: string): number | string {
  if (/^\d+$/.test(part)) {
    const id = Number(part);
    if (id > MAX_ID) throw invalid(at, `'${text}': id ${part} out of range (0-4294967295)`);
    return id;
  }
  // The rules useradd/groupadd enforce, loosely: no ':', no whitespace, no '/'.
  if (/[:\s/]/.test(part)) throw invalid(at, `'${text}': '${part}' is neither an id nor a user or group name`);
  return part;
}

export interface Account {
  name: string;
  id: number;
  /** passwd only: the primary group. */
  gid?: number;
}

/** Parse /etc/passwd or /etc/group text: `name:x:id:...` lines; comments and NIS `+`/`-` lines skipped. */
export function parseAccounts(text: string, kind: 'passwd' | 'group'): Map<string, Account> {
  const out = new Map<string, Account>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const f = line.split(':');
    if (f.length < 3 || f[0] === '' || !/^\d+$/.test(f[2]!)) continue;
    const account: Account = { name: f[0]!, id: Number(f[2]) };
    if (kind === 'passwd' && f[3] !== undefined && /^\d+$/.test(f[3])) account.gid = Number(f[3]);
    if (!out.has(account.name)) out.set(account.name, account); // the first entry wins, as getpwnam
  }
  return out;
}

/** Resolve names through the tree's /etc/passwd and /etc/group as they are now. */
export function resolveOwner(tree: Tree, spec: OwnerSpec): { uid?: number; gid?: number } {
  const out: { uid?: number; gid?: number } = {};
  let user: Account | undefined;
  if (typeof spec.user === 'number') out.uid = spec.user;
  else if (spec.user !== undefined) {
    user = lookup(tree, 'passwd', spec.user);
    out.uid = user.id;
  }
  if (typeof spec.group === 'number') out.gid = spec.group;
  else if (spec.group !== undefined) out.gid = lookup(tree, 'group', spec.group).id;
  else if (spec.loginGroup) {
    if (typeof spec.user === 'number') {
      const byId = [...accounts(tree, 'passwd').values()].find((a) => a.id === spec.user);
      if (byId?.gid === undefined) {
        throw new ExtimgError('ENOENT', `'${spec.text}': uid ${spec.user} has no entry in the image's /etc/passwd to take a login group from`, {
          owner: spec.text,
        });
      }
      out.gid = byId.gid;
    } else if (user?.gid !== undefined) out.gid = user.gid;
    else throw new ExtimgError('EINVAL', `'${spec.text}': user '${spec.user}' has no primary group in /etc/passwd`, { owner: spec.text });
  }
  return out;
}

function lookup(tree: Tree, kind: 'passwd' | 'group', name: string): Account {
  const a = accounts(tree, kind).get(name);
  if (a) return a;
  const what = kind === 'passwd' ? 'user' : 'group';
  const file = `/etc/${kind}`;
  const exists = tree.get(file, true)?.kind === 'file';
  throw new ExtimgError('ENOENT', `${what} '${name}' not found ${exists ? `in the image's ${file}` : `(the image has no ${file})`}`, {
    [what]: name,
  });
}

function accounts(tree: Tree, kind: 'passwd' | 'group'): Map<string, Account> {
  const node = tree.get(`/etc/${kind}`, true);
  if (node?.kind !== 'file') return new Map();
  return parseAccounts(new TextDecoder().decode(readContent(node.content)), kind);
}

/** All bytes of a content (through open(), whatever its backing). */
export function readContent(content: FileContent): Uint8Array {
  const out = new Uint8Array(content.size);
  if (content.size === 0) return out;
  const r = content.open();
  try {
    r.read(0, out);
  } finally {
    r.close();
  }
  return out;
}
