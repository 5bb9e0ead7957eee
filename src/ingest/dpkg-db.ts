import { bytesToKey, keyToBytes, keyToDisplay, pathToKey } from '../tree/names.js';
import type { Tree } from '../tree/tree.js';
import { field, parseStanza, type DebControl } from './deb-control.js';
import { md5Content } from './md5.js';
import type { ArchiveOptions } from './options.js';
import type { ByteSource } from './source.js';
import { readTar } from './tar.js';

/**
 * The dpkg database of the image (/var/lib/dpkg under the input's `dest`), kept as each .deb is
 * applied: the state `dpkg --unpack` leaves, so that `dpkg --configure -a` in the booted image
 * finishes the installation as debootstrap's second stage does. Per package: info/PKG.list
 * (the data.tar's paths in archive order, "/." first, as dpkg's write_filelist_except writes
 * them), info/PKG.md5sums (the package's own, or computed as dpkg's write_filehash_except does),
 * every other control file as info/PKG.NAME (dpkg's pkg_infodb_update: not `control`, no names
 * with a dot), PKG:ARCH for Multi-Arch: same packages (needs info/format "1"); a status stanza
 * "install ok unpacked" in dpkg's field order (lib/dpkg/parse.c fieldinfos) with Conffiles
 * hashed as they are in the tree (the files sit at their names, not as .dpkg-new, so configure
 * takes them as already in place); trigger interests in triggers/NAME and triggers/File as
 * dpkg's triglib.c writes them. What base-passwd's preinst does (/etc/passwd, /etc/group from
 * its masters) is done here too. Two packages shipping the same non-directory path where neither
 * Replaces the other are reported, naming both.
 */

/** dpkg's status field order (lib/dpkg/parse.c fieldinfos); other fields follow in control order. */
const FIELD_ORDER = [
  'Package',
  'Essential',
  'Protected',
  'Status',
  'Priority',
  'Section',
  'Installed-Size',
  'Origin',
  'Maintainer',
  'Bugs',
  'Architecture',
  'Multi-Arch',
  'Source',
  'Version',
  'Config-Version',
  'Replaces',
  'Provides',
  'Depends',
  'Pre-Depends',
  'Recommends',
  'Suggests',
  'Breaks',
  'Conflicts',
  'Enhances',
  'Conffiles',
  'Filename',
  'Size',
  'MD5sum',
  'Description',
  'Triggers-Pending',
  'Triggers-Awaited',
];
const KNOWN = new Map(FIELD_ORDER.map((f, i) => [f.toLowerCase(), i]));

/** One package as recorded. Paths are byte strings as dpkg writes them ("/usr/bin/x"). */
interface DebRecord {
  name: string;
  arch: string;
  /** The info file prefix: NAME, or NAME:ARCH for Multi-Arch: same (dpkg's pkg_infodb_get_file). */
  infoName: string;
  control: DebControl;
  list: string[];
  /** Paths of `list` a later package took over (dpkg elides them from this list). */
  elided: Set<string>;
  conffiles: Array<{ path: string; hash: string }>;
}

interface DpkgState {
  /** The database folder as a byte-string key without a leading '/' ("var/lib/dpkg"). */
  admin: string;
  /** The installation's root (the input's dest) as a key, '' for '/'. */
  root: string;
  packages: Map<string, DebRecord>;
  /** Status stanzas of packages that were in the database before (an image input), by NAME:ARCH. */
  earlier: Map<string, { name: string; arch: string; text: string }>;
  /** Non-directory path -> the package that shipped it last. */
  owners: Map<string, DebRecord>;
  /** Trigger interest lines that were in the database before, by file under triggers/. */
  earlierTriggers: Map<string, string[]>;
}

const states = new WeakMap<Tree, Map<string, DpkgState>>();

/** What the package databases of a tree hold so far (for tests and callers that report). */
export function recordedDebs(tree: Tree, dest = '/'): Array<{ name: string; arch: string; version: string; list: string[] }> {
  const st = states.get(tree)?.get(rootKey(dest));
  return [...(st?.packages.values() ?? [])].map((r) => ({ name: r.name, arch: r.arch, version: field(r.control, 'Version') ?? '', list: listOf(r) }));
}

/**
 * Record one applied .deb (its data.tar `src`, its control) in the tree's dpkg database.
 * Called by applyPrepared after the data went into the tree.
 */
export function recordDeb(tree: Tree, src: ByteSource, control: DebControl | { error: string } | undefined, opts: ArchiveOptions): void {
  const origin = opts.origin;
  // The files went in; a package whose control member cannot be read is said and not recorded.
  if (control === undefined || 'error' in control) {
    opts.onWarning?.(`${control ? control.error : `${origin}: the control member was not read`}; the package is not recorded in /var/lib/dpkg`);
    return;
  }
  const name = field(control, 'Package');
  const version = field(control, 'Version');
  const arch = field(control, 'Architecture');
  if (!name || !version || !arch) {
    const missing = [['Package', name], ['Version', version], ['Architecture', arch]].filter(([, v]) => !v).map(([k]) => k);
    opts.onWarning?.(`${origin}: the control file has no ${missing.join(', ')}; the package is not recorded in /var/lib/dpkg`);
    return;
  }
  // Names become file names under info/: dpkg's own rules (pkg_name_is_illegal, dpkg_arch_name_is_illegal).
  if (!/^[a-z0-9][a-z0-9+.-]*$/.test(name) || !/^[a-z0-9][a-z0-9-]*$/.test(arch)) {
    opts.onWarning?.(`${origin}: package name ${JSON.stringify(name)} or architecture ${JSON.stringify(arch)} is not valid for dpkg; the package is not recorded in /var/lib/dpkg`);
    return;
  }
  const st = stateOf(tree, opts.dest ?? '/');
  const key = `${name}:${arch}`;
  const multiArchSame = field(control, 'Multi-Arch')?.toLowerCase() === 'same';
  const rec: DebRecord = { name, arch, infoName: multiArchSame ? key : name, control, list: [], elided: new Set(), conffiles: [] };
  const { files, hashes } = scanData(src, opts, rec, !control.files.some((f) => f.name === 'md5sums'));
  const previous = st.packages.get(key);
  if (previous) removeInfo(tree, st, previous);
  st.earlier.delete(key);
  const touched = takeOwnership(st, rec, previous, files, opts);
  st.packages.set(key, rec);
  rec.conffiles = conffilesOf(tree, st, control);
  writeInfo(tree, st, rec, hashes);
  for (const other of touched) writeFile(tree, st, `info/${other.infoName}.list`, listText(other));
  writeStatus(tree, st);
  writeTriggers(tree, st);
  // The native architecture (debootstrap writes it too); dpkg takes the others listed as foreign.
  if (arch !== 'all' && !tree.exists(keyToBytes(`${st.admin}/arch`))) writeFile(tree, st, 'arch', `${arch}\n`);
  seedFromBasePasswd(tree, st.root);
}

function rootKey(dest: string): string {
  return pathToKey(dest)
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

function under(root: string, rel: string): Uint8Array {
  return keyToBytes(root === '' ? rel : `${root}/${rel}`);
}

/** The tree's database state under `dest`, made (with dpkg's files and folders) on first use. */
function stateOf(tree: Tree, dest: string): DpkgState {
  let byRoot = states.get(tree);
  if (!byRoot) states.set(tree, (byRoot = new Map()));
  const root = rootKey(dest);
  let st = byRoot.get(root);
  if (st) return st;
  const admin = root === '' ? 'var/lib/dpkg' : `${root}/var/lib/dpkg`;
  st = { admin, root, packages: new Map(), earlier: new Map(), owners: new Map(), earlierTriggers: new Map() };
  byRoot.set(root, st);
  readEarlierStatus(tree, st);
  readEarlierTriggers(tree, st);
  for (const dir of ['', 'info', 'updates', 'triggers', 'alternatives', 'parts']) tree.mkdir(keyToBytes(dir ? `${admin}/${dir}` : admin), { mode: 0o755 });
  // info/format 1: the multiarch layout, without which dpkg ignores every PKG:ARCH.list.
  for (const [rel, text] of [['info/format', '1\n'], ['status', ''], ['available', ''], ['diversions', ''], ['statoverride', ''], ['triggers/Unincorp', ''], ['lock', ''], ['lock-frontend', ''], ['triggers/Lock', '']] as const) {
    if (!tree.exists(keyToBytes(`${admin}/${rel}`))) writeFile(tree, st, rel, text);
  }
  return st;
}

/** Stanzas already in the tree's status file (an image or a tar of a system as an input) are kept. */
function readEarlierStatus(tree: Tree, st: DpkgState): void {
  const node = tree.get(keyToBytes(`${st.admin}/status`), true);
  if (node?.kind !== 'file' || node.content.size === 0) return;
  const text = bytesToKey(readContent(node.content));
  for (const stanza of text.split(/\n\s*\n/)) {
    if (stanza.trim() === '') continue;
    const fields = parseStanza(stanza, `${st.admin}/status`);
    const name = field({ fields }, 'Package');
    if (!name) continue;
    const arch = field({ fields }, 'Architecture') ?? '';
    st.earlier.set(`${name}:${arch}`, { name, arch, text: `${stanza.replace(/^\n+|\n+$/g, '')}\n` });
  }
}

function readEarlierTriggers(tree: Tree, st: DpkgState): void {
  const dir = tree.get(keyToBytes(`${st.admin}/triggers`), true);
  if (dir?.kind !== 'dir') return;
  for (const [name, node] of dir.entries) {
    if (node.kind !== 'file' || name === 'Unincorp' || name === 'Lock') continue;
    const lines = bytesToKey(readContent(node.content))
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => `${l}\n`);
    st.earlierTriggers.set(name, lines);
  }
}

interface ScannedFile {
  path: string;
  kind: 'dir' | 'other';
}

/**
 * The data.tar's entries as dpkg lists them: names without "./" or a trailing '/', "/." for the
 * top directory, in archive order; entries the input's exclude leaves out are not listed. With
 * `hash`, the MD5 of every regular file (for a package without md5sums).
 */
function scanData(src: ByteSource, opts: ArchiveOptions, rec: DebRecord, hash: boolean): { files: ScannedFile[]; hashes: string[] | undefined } {
  const files: ScannedFile[] = [];
  const hashes: string[] | undefined = hash ? [] : undefined;
  const seen = new Set<string>();
  const excluded = excluder(opts.exclude);
  for (const e of readTar(src, opts.origin)) {
    const comps: string[] = [];
    for (const part of bytesToKey(e.name).split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') comps.pop();
      else comps.push(part);
    }
    if (excluded(comps)) continue;
    const path = comps.length ? `/${comps.join('/')}` : '/.';
    if (seen.has(path)) continue;
    seen.add(path);
    rec.list.push(path);
    files.push({ path, kind: e.kind === 'dir' ? 'dir' : 'other' });
    if (hashes && e.kind === 'file' && e.content) hashes.push(`${md5Content(e.content)}  ${path.slice(1)}\n`);
  }
  return { files, hashes };
}

function excluder(exclude: ArchiveOptions['exclude']): (comps: string[]) => boolean {
  if (!exclude) return () => false;
  const cache = new Map<string, boolean>();
  return (comps) => {
    let key = '';
    for (let i = 0; i < comps.length; i++) {
      key = i === 0 ? comps[0]! : `${key}/${comps[i]}`;
      let v = cache.get(key);
      if (v === undefined) cache.set(key, (v = exclude(keyToDisplay(key))));
      if (v) return true;
    }
    return false;
  };
}

/**
 * The new package owns its non-directory paths now; an earlier package that shipped one loses it
 * from its list (dpkg elides files taken over). Without Replaces either way, that is said: one
 * warning per pair of packages. Returns the packages whose lists changed.
 */
function takeOwnership(st: DpkgState, rec: DebRecord, previous: DebRecord | undefined, files: ScannedFile[], opts: ArchiveOptions): Set<DebRecord> {
  if (previous) for (const [path, owner] of st.owners) if (owner === previous) st.owners.delete(path);
  const clashes = new Map<DebRecord, string[]>();
  const touched = new Set<DebRecord>();
  for (const f of files) {
    if (f.kind === 'dir') continue;
    const owner = st.owners.get(f.path);
    st.owners.set(f.path, rec);
    if (!owner || owner === rec) continue;
    owner.elided.add(f.path);
    touched.add(owner);
    if (owner.name === rec.name || replaces(rec, owner.name) || replaces(owner, rec.name)) continue;
    const paths = clashes.get(owner) ?? [];
    paths.push(f.path);
    clashes.set(owner, paths);
  }
  for (const [owner, paths] of clashes) {
    const more = paths.length > 1 ? ` and ${paths.length - 1} more path${paths.length > 2 ? 's' : ''}` : '';
    opts.onWarning?.(
      `${opts.origin}: package ${rec.name} ships ${keyToDisplay(paths[0]!)}${more}, also in package ${owner.name}, and neither Replaces the other (dpkg would refuse to unpack it); ${rec.name}'s files are kept`,
    );
  }
  return touched;
}

/** Whether `rec`'s Replaces names `name` (versions are not compared). */
function replaces(rec: DebRecord, name: string): boolean {
  const value = field(rec.control, 'Replaces');
  if (!value) return false;
  return value.split(',').some((alt) => alt.trim().split(/[\s(:]/)[0] === name);
}

function conffilesOf(tree: Tree, st: DpkgState, control: DebControl): DebRecord['conffiles'] {
  const file = control.files.find((f) => f.name === 'conffiles');
  if (!file) return [];
  const out: DebRecord['conffiles'] = [];
  for (const line of bytesToKey(file.data).split('\n')) {
    const path = line.trim();
    // dpkg ≥ 1.20's flagged entries ("remove-on-upgrade /path") name files the package does not ship.
    if (!path.startsWith('/')) continue;
    const node = tree.get(under(st.root, path.slice(1)), true);
    if (node?.kind !== 'file') continue;
    out.push({ path, hash: md5Content(node.content) });
  }
  return out;
}

function listOf(rec: DebRecord): string[] {
  return rec.elided.size ? rec.list.filter((p) => !rec.elided.has(p)) : rec.list;
}

function listText(rec: DebRecord): string {
  return listOf(rec)
    .map((p) => `${p}\n`)
    .join('');
}

/** info/PKG.list, .md5sums (computed if the package has none) and every other control file. */
function writeInfo(tree: Tree, st: DpkgState, rec: DebRecord, hashes: string[] | undefined): void {
  writeFile(tree, st, `info/${rec.infoName}.list`, listText(rec));
  if (hashes) writeFile(tree, st, `info/${rec.infoName}.md5sums`, hashes.join(''));
  for (const f of rec.control.files) writeFile(tree, st, `info/${rec.infoName}.${f.name}`, f.data, f.mode & 0o777);
}

/** A package given again (a newer version later in the inputs): its old info files go, as dpkg removes them. */
function removeInfo(tree: Tree, st: DpkgState, rec: DebRecord): void {
  const info = tree.get(keyToBytes(`${st.admin}/info`));
  if (info?.kind !== 'dir') return;
  for (const name of [...info.entries.keys()]) if (name.startsWith(`${rec.infoName}.`) && !name.slice(rec.infoName.length + 1).includes('.')) info.entries.delete(name);
}

/** Every package's stanza, sorted by name then architecture as dpkg writes its status file. */
function writeStatus(tree: Tree, st: DpkgState): void {
  const stanzas: Array<{ name: string; arch: string; text: string }> = [...st.earlier.values()];
  for (const rec of st.packages.values()) stanzas.push({ name: rec.name, arch: rec.arch, text: stanza(rec) });
  stanzas.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0));
  writeFile(tree, st, 'status', stanzas.map((s) => `${s.text}\n`).join(''));
}

/** A status stanza as dpkg writes an unpacked package: its control fields in dpkg's order. */
export function stanza(rec: Pick<DebRecord, 'control' | 'conffiles'>): string {
  const known: Array<[number, string]> = [];
  const other: string[] = [];
  const add = (name: string, value: string): void => {
    const at = KNOWN.get(name.toLowerCase());
    const line = `${at === undefined ? name : FIELD_ORDER[at]!}:${value.startsWith('\n') ? '' : ' '}${value}\n`;
    if (at === undefined) other.push(line);
    else known.push([at, line]);
  };
  for (const [name, value] of rec.control.fields) {
    const lower = name.toLowerCase();
    // Fields dpkg does not keep for an installed package, or writes itself.
    if (lower === 'status' || lower === 'conffiles' || lower === 'config-version' || lower === 'filename' || lower === 'size' || lower === 'md5sum') continue;
    add(name, value);
  }
  add('Status', 'install ok unpacked');
  if (rec.conffiles.length) add('Conffiles', rec.conffiles.map((c) => `\n ${c.path} ${c.hash}`).join(''));
  known.sort((a, b) => a[0] - b[0]);
  return known.map(([, l]) => l).join('') + other.join('');
}

/**
 * Trigger interests as `dpkg --unpack` registers them: triggers/NAME holds "PKG[/noawait]"
 * lines, triggers/File "PATH PKG[/noawait]" lines (lib/dpkg/triglib.c).
 */
function writeTriggers(tree: Tree, st: DpkgState): void {
  const named = new Map<string, string[]>();
  for (const [name, lines] of st.earlierTriggers) if (name !== 'File') named.set(name, [...lines]);
  const fileLines: string[] = [...(st.earlierTriggers.get('File') ?? [])];
  for (const rec of st.packages.values()) {
    const t = rec.control.files.find((f) => f.name === 'triggers');
    if (!t) continue;
    const who = field(rec.control, 'Multi-Arch')?.toLowerCase() === 'same' ? `${rec.name}:${rec.arch}` : rec.name;
    for (const raw of bytesToKey(t.data).split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const [cmd, trig] = line.split(/\s+/);
      // A named trigger is a file name under triggers/ (dpkg's trig_name_is_illegal); '/...' is a file trigger.
      if (!trig || !cmd?.startsWith('interest') || (!trig.startsWith('/') && !/^[!-~]+$/.test(trig)) || (!trig.startsWith('/') && (trig.includes('/') || trig === '.' || trig === '..'))) continue;
      const entry = `${who}${cmd === 'interest-noawait' ? '/noawait' : ''}`;
      const lines = trig.startsWith('/') ? fileLines : (named.get(trig) ?? []);
      const text = trig.startsWith('/') ? `${trig} ${entry}\n` : `${entry}\n`;
      if (!lines.includes(text)) lines.push(text);
      if (!trig.startsWith('/')) named.set(trig, lines);
    }
  }
  for (const [trig, lines] of named) writeFile(tree, st, `triggers/${trig}`, lines.join(''));
  if (fileLines.length) writeFile(tree, st, 'triggers/File', fileLines.join(''));
}

function writeFile(tree: Tree, st: DpkgState, rel: string, data: string | Uint8Array, mode = 0o644): void {
  tree.writeFile(keyToBytes(`${st.admin}/${rel}`), typeof data === 'string' ? keyToBytes(data) : data, { mode });
}

/**
 * base-passwd's preinst: with no /etc/passwd (/etc/group), the master copy becomes it, so the
 * packages configured after it find root and the system users. (src/edit/sysusers.ts has the
 * same rule for users made at build time.)
 */
export function seedFromBasePasswd(tree: Tree, root = ''): void {
  for (const name of ['passwd', 'group']) {
    const target = under(root, `etc/${name}`);
    if (tree.get(target) !== undefined) continue;
    const master = tree.get(under(root, `usr/share/base-passwd/${name}.master`), true);
    if (master?.kind !== 'file') continue;
    tree.writeFile(target, master.content, { mode: 0o644, uid: 0, gid: 0 });
  }
}

function readContent(content: { size: number; open(): { read(p: number, into: Uint8Array): void; close(): void } }): Uint8Array {
  const out = new Uint8Array(content.size);
  const r = content.open();
  try {
    r.read(0, out);
  } finally {
    r.close();
  }
  return out;
}
