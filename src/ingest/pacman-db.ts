import { bytesToKey, keyToBytes, keyToDisplay, pathToKey } from '../tree/names.js';
import type { Tree } from '../tree/tree.js';
import { md5Content } from './md5.js';
import type { ArchiveOptions } from './options.js';
import { PACMAN_METADATA } from './pacman.js';
import type { ByteSource } from './source.js';
import { readTar } from './tar.js';

/**
 * pacman's local database (/var/lib/pacman/local under the input's dest), written as pacman's
 * libalpm writes it when it installs a package (be_local.c _alpm_local_db_write, add.c):
 * local/NAME-VERSION/desc from .PKGINFO, files (%FILES%: the package's paths, directories with a
 * trailing '/', sorted; %BACKUP%: each backup file with the MD5 of its content), mtree (the
 * package's .MTREE as it is), install (.INSTALL) and changelog (.CHANGELOG); local/ALPM_DB_VERSION
 * holds 9, the layout pacman 6 checks for. So `pacman -Q` in the image lists the packages.
 */

export const ALPM_DB_VERSION = '9';

/** .PKGINFO keys in the order desc sections are written, with their section names. */
const LISTS: Array<[key: string, section: string]> = [
  ['replaces', '%REPLACES%'],
  ['depend', '%DEPENDS%'],
  ['optdepend', '%OPTDEPENDS%'],
  ['conflict', '%CONFLICTS%'],
  ['provides', '%PROVIDES%'],
];

/** Record one applied pacman package (its decompressed tar `src`) in the tree's local database. */
export function recordPacman(tree: Tree, src: ByteSource, opts: ArchiveOptions): void {
  const meta = new Map<string, Uint8Array>();
  const paths: string[] = [];
  for (const e of readTar(src, opts.origin)) {
    const comps = bytesToKey(e.name)
      .split('/')
      .filter((p) => p !== '' && p !== '.');
    if (comps.length === 0) continue;
    const key = comps.join('/');
    if (comps.length === 1 && PACMAN_METADATA.has(key)) {
      if (e.kind === 'file' && e.content) meta.set(key, readAll(e.content));
      continue;
    }
    if (opts.exclude && excluded(comps, opts.exclude)) continue;
    paths.push(e.kind === 'dir' ? `${key}/` : key);
  }
  // The files went in; a package pacman could not name is said and not recorded.
  const info = parsePkginfo(bytesToKey(meta.get('.PKGINFO') ?? new Uint8Array(0)));
  const name = info.get('pkgname')?.[0];
  const version = info.get('pkgver')?.[0];
  if (!name || !version) {
    opts.onWarning?.(`${opts.origin}: .PKGINFO has no ${name ? 'pkgver' : 'pkgname'}; the package is not recorded in /var/lib/pacman/local`);
    return;
  }
  // NAME-VERSION is a folder name: makepkg's rules (no leading '-' or '.', no '/').
  if (!/^[a-zA-Z0-9@_+][a-zA-Z0-9@._+-]*$/.test(name) || !/^[a-zA-Z0-9._+:~-]+$/.test(version) || version.startsWith('.')) {
    opts.onWarning?.(`${opts.origin}: pkgname ${JSON.stringify(name)} or pkgver ${JSON.stringify(version)} is not valid for pacman; the package is not recorded in /var/lib/pacman/local`);
    return;
  }

  const root = pathToKey(opts.dest ?? '/')
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
  const local = `${root === '' ? '' : `${root}/`}var/lib/pacman/local`;
  const write = (rel: string, data: string | Uint8Array): void => {
    tree.writeFile(keyToBytes(`${local}/${rel}`), typeof data === 'string' ? keyToBytes(data) : data, { mode: 0o644 });
  };
  tree.mkdir(keyToBytes(local), { mode: 0o755 });
  if (!tree.exists(keyToBytes(`${local}/ALPM_DB_VERSION`))) write('ALPM_DB_VERSION', `${ALPM_DB_VERSION}\n`);
  // Another version of the same package given earlier: pacman keeps one entry per name.
  const dir = tree.get(keyToBytes(local));
  if (dir?.kind === 'dir') for (const entry of [...dir.entries.keys()]) if (entry.startsWith(`${name}-`) && isEntryOf(entry, name)) dir.entries.delete(entry);
  const entry = `${name}-${version}`;
  tree.mkdir(keyToBytes(`${local}/${entry}`), { mode: 0o755 });
  write(`${entry}/desc`, desc(info, tree.defaults.time.sec));
  const backup = (info.get('backup') ?? []).map((p) => {
    const node = tree.get(keyToBytes(root === '' ? p : `${root}/${p}`), true);
    return `${p}\t${node?.kind === 'file' ? md5Content(node.content) : ''}\n`;
  });
  paths.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  write(`${entry}/files`, `${paths.length ? `%FILES%\n${paths.join('\n')}\n\n` : ''}${backup.length ? `%BACKUP%\n${backup.join('')}\n` : ''}`);
  for (const [member, file] of [['.MTREE', 'mtree'], ['.INSTALL', 'install'], ['.CHANGELOG', 'changelog']] as const) {
    const data = meta.get(member);
    if (data) write(`${entry}/${file}`, data);
  }
}

/** Whether a local entry "NAME-PKGVER-PKGREL" belongs to package NAME (names may hold dashes). */
function isEntryOf(entry: string, name: string): boolean {
  return /^[^-]+-[^-]+$/.test(entry.slice(name.length + 1));
}

function excluded(comps: string[], exclude: NonNullable<ArchiveOptions['exclude']>): boolean {
  for (let i = 1; i <= comps.length; i++) if (exclude(keyToDisplay(comps.slice(0, i).join('/')))) return true;
  return false;
}

/** .PKGINFO: `key = value` lines, keys repeated for lists, '#' comments (makepkg's write_pkginfo). */
export function parsePkginfo(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const eq = line.indexOf(' = ');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 3)]);
  }
  return out;
}

/** The desc file, section by section in _alpm_local_db_write's order. */
function desc(info: Map<string, string[]>, installDate: number): string {
  const one = (section: string, value: string | undefined): string => (value ? `${section}\n${value}\n\n` : '');
  const many = (section: string, values: string[] | undefined): string => (values?.length ? `${section}\n${values.join('\n')}\n\n` : '');
  const first = (k: string): string | undefined => info.get(k)?.[0];
  const size = first('size');
  return [
    one('%NAME%', first('pkgname')),
    one('%VERSION%', first('pkgver')),
    one('%BASE%', first('pkgbase')),
    one('%DESC%', first('pkgdesc')),
    one('%URL%', first('url')),
    one('%ARCH%', first('arch')),
    one('%BUILDDATE%', first('builddate')),
    one('%INSTALLDATE%', String(installDate)),
    one('%PACKAGER%', first('packager')),
    one('%SIZE%', size && size !== '0' ? size : undefined),
    many('%GROUPS%', info.get('group')),
    many('%LICENSE%', info.get('license')),
    // Not checked against a signature or a sync database's checksum: pacman's word for that.
    one('%VALIDATION%', 'none'),
    ...LISTS.map(([key, section]) => many(section, info.get(key))),
  ].join('');
}

function readAll(content: { size: number; open(): { read(p: number, into: Uint8Array): void; close(): void } }): Uint8Array {
  const out = new Uint8Array(content.size);
  const r = content.open();
  try {
    r.read(0, out);
  } finally {
    r.close();
  }
  return out;
}
