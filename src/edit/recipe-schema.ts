/**
 * JSON Schema (draft 2020-12) of a recipe, for editors and other tools: `extimg schema` prints
 * it. parseRecipe() is the authority (it also checks values such as sizes and UUIDs exactly);
 * test/edit-recipe.test.ts checks that both accept the same keys.
 */

const path = { type: 'string', minLength: 1 } as const;
const octalMode = {
  type: 'string',
  pattern: '^(0o)?0*[0-7]{1,4}$',
  description: 'octal permission bits as a string, e.g. "0644" (JSON numbers are refused: no octal in JSON)',
} as const;
const symbolicOrOctalMode = {
  type: 'string',
  pattern: '^((0o)?0*[0-7]{1,4}|[ugoa]*([-+=]([rwxXst]*|[ugo]))+(,[ugoa]*([-+=]([rwxXst]*|[ugo]))+)*)$',
  description: 'octal ("0755") or symbolic as chmod(1) ("u+x,go-w")',
} as const;
const id = { type: 'integer', minimum: 0, maximum: 4294967295 } as const;
const owner = {
  type: 'string',
  pattern: '^[^:\\s/]*(:[^:\\s/]*)?$',
  description: 'UID:GID, USER:GROUP, USER, USER: or :GROUP; names are looked up in the image\'s /etc/passwd and /etc/group',
} as const;
const mtime = { type: 'integer', minimum: -2147483648, maximum: 15032385535, description: 'seconds since the epoch' } as const;
const ownerFields = { owner, uid: id, gid: id } as const;
const contentFields = {
  source: { ...path, description: 'a host file, relative to the recipe' },
  content: { type: 'string', description: 'UTF-8 text' },
  contentBase64: { type: 'string', description: 'bytes, base64' },
} as const;
const oneContent = [{ required: ['source'] }, { required: ['content'] }, { required: ['contentBase64'] }];

function op(name: string, description: string, properties: Record<string, unknown>, required: string[], extra: Record<string, unknown> = {}) {
  return {
    type: 'object',
    description,
    properties: { op: { const: name }, ...properties },
    required: ['op', ...required],
    additionalProperties: false,
    ...extra,
  };
}

export const EDIT_SCHEMAS = {
  write: op('write', 'write a file (replacing what is there)', { path, ...contentFields, mode: octalMode, ...ownerFields, mtime }, ['path'], {
    oneOf: oneContent,
  }),
  append: op('append', 'append to a file (following symlinks), or create it', { path, ...contentFields, mode: octalMode, ...ownerFields, mtime }, ['path'], {
    oneOf: oneContent,
  }),
  mkdir: op('mkdir', 'mkdir -p; an existing directory gets the given mode and owner', { path, mode: octalMode, ...ownerFields, mtime }, ['path']),
  symlink: op('symlink', 'a symbolic link at path pointing to target', { path, target: path, ...ownerFields, mtime }, ['path', 'target']),
  link: op('link', 'a hard link: path becomes another name of target', { path, target: path }, ['path', 'target']),
  mknod: op(
    'mknod',
    'a device node, FIFO or socket',
    {
      path,
      type: { enum: ['c', 'b', 'p', 's'] },
      major: { type: 'integer', minimum: 0, maximum: 4095 },
      minor: { type: 'integer', minimum: 0, maximum: 1048575 },
      mode: octalMode,
      ...ownerFields,
      mtime,
    },
    ['path', 'type'],
  ),
  chmod: op('chmod', 'change permission bits', { path, mode: symbolicOrOctalMode, follow: { type: 'boolean', default: true } }, ['path', 'mode']),
  chown: op('chown', 'change owner and/or group', { path, ...ownerFields, follow: { type: 'boolean', default: true } }, ['path']),
  remove: op('remove', 'remove a name', { path, recursive: { type: 'boolean', default: false }, force: { type: 'boolean', default: false } }, ['path']),
  rename: op('rename', 'rename(2): from gets the new name to', { from: path, to: path }, ['from', 'to']),
  move: op('move', 'mv(1): like rename, but into to when it is a directory', { from: path, to: path }, ['from', 'to']),
  devices: op('devices', 'apply a genext2fs device table', { source: path, dest: path }, ['source']),
  sysusers: op(
    'sysusers',
    'users and groups from systemd-sysusers lines (sysusers.d(5): u, g, m, r), in /etc/passwd, group, shadow, gshadow; homes under /home from /etc/skel',
    { source: { ...path, description: 'a sysusers.d file on the host' }, content: { type: 'string', description: 'the lines themselves' } },
    [],
    { oneOf: [{ required: ['source'] }, { required: ['content'] }] },
  ),
  password: op(
    'password',
    "a user's password in /etc/shadow: hashed from password (never written in clear), a crypt(3) hash, or locked",
    {
      user: { type: 'string', minLength: 1 },
      password: { type: 'string', description: 'clear text, hashed with the scheme' },
      source: { ...path, description: 'a host file whose first line is the clear text' },
      hash: { type: 'string', description: "a crypt(3) hash: '$y$...', '$6$...'" },
      lock: { const: true, description: 'lock the password (usermod -L)' },
      scheme: { enum: ['yescrypt', 'sha512crypt', 'sha256crypt'], description: "default: the image's distribution's (yescrypt for Debian >= 11)" },
    },
    ['user'],
    { oneOf: [{ required: ['password'] }, { required: ['source'] }, { required: ['hash'] }, { required: ['lock'] }] },
  ),
  sed: op(
    'sed',
    's/RE/REPLACEMENT/FLAGS commands (POSIX ERE as sed -E) on a file; a command that matches nothing is an error',
    { path, script: { type: 'string', minLength: 1 } },
    ['path', 'script'],
  ),
} as const;

const input = {
  oneOf: [
    { ...path, description: 'a host directory or archive, relative to the recipe' },
    {
      type: 'object',
      properties: {
        path,
        dest: { type: 'string', pattern: '^/', description: 'where the input lands in the image (default /)' },
        exclude: { type: 'array', items: { type: 'string', minLength: 1 } },
        owner: { type: 'string', pattern: '^\\d+:\\d+$' },
        ref: { type: 'string', minLength: 1, description: 'a container image input: the image with this ref (tag) among several' },
        platform: {
          type: 'string',
          pattern: '^[a-z0-9_.-]+/[a-z0-9_.-]+(/[a-z0-9_.-]+)?$',
          description: 'a container image input: the image for os/arch[/variant] of an index (default linux/amd64)',
        },
      },
      required: ['path'],
      additionalProperties: false,
    },
  ],
};

const sizePattern = '^\\s*(\\d+(\\.\\d+)?|\\.\\d+)\\s*([kKmMgGtT]([iI]?[bB])?|[bB])?\\s*$';
const size = {
  oneOf: [
    { type: 'integer', minimum: 1 },
    { type: 'string', pattern: sizePattern },
  ],
  description: 'bytes, or "512M", "1.5G"',
} as const;

/** The keys that describe one filesystem: the top level of a recipe, or a disk partition's "filesystem". */
const filesystemProperties = {
  type: { enum: ['ext2', 'ext3', 'ext4'] },
  features: {
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description: 'as mke2fs -O: "metadata_csum,^resize_inode" (a list, or an array of lists)',
  },
  blockSize: { enum: [1024, 2048, 4096] },
  inodeSize: { enum: [128, 256] },
  inodes: { type: 'integer', minimum: 1, maximum: 4294967295 },
  headroom: { oneOf: [{ type: 'number', minimum: 0, maximum: 1 }, { type: 'string', pattern: '^\\d+(\\.\\d+)?%$' }] },
  label: { type: 'string', description: 'at most 16 bytes' },
  uuid: { type: 'string', format: 'uuid' },
  hashSeed: { type: 'string', format: 'uuid' },
  reservedPercent: { type: 'number', minimum: 0, maximum: 50 },
  journalBlocks: { type: 'integer', minimum: 1024, maximum: 10240000 },
  resizeInode: { type: 'boolean' },
  owner: { type: 'string', pattern: '^\\d+:\\d+$', description: 'UID:GID of every input file' },
  exclude: { type: 'array', items: { type: 'string', minLength: 1 }, description: 'tar --exclude patterns' },
  oneFileSystem: { type: 'boolean', description: 'host directory inputs stay on their own filesystem (-x): mount points become empty directories' },
  inputs: { type: 'array', items: input },
  devices: { oneOf: [path, { type: 'array', items: path }], description: 'genext2fs device tables, applied before edits' },
  edits: { type: 'array', items: { oneOf: Object.values(EDIT_SCHEMAS) } },
} as const;

const partition = {
  type: 'object',
  description: 'a partition, in disk order: a "filesystem", "raw" bytes from a file, or neither (left empty: zeros)',
  properties: {
    size: {
      oneOf: [...size.oneOf, { enum: ['fit', 'rest'] }],
      description: 'bytes, "512M"; "fit": the filesystem\'s fitted size or the raw file\'s; "rest": what the disk has left (one partition at most; needs disk.size)',
    },
    start: { ...size, description: 'bytes from the disk\'s start, a multiple of 512 ("1M"); default: the next 1 MiB boundary' },
    type: {
      oneOf: [{ type: 'string', minLength: 1 }, { type: 'integer', minimum: 1, maximum: 255 }],
      description: 'GPT: linux (default), root-x86-64, root-arm64, usr-x86-64, esp, xbootldr, swap, home, srv, var, tmp, ... or a type GUID; MBR: linux (0x83), swap, esp or a type byte',
    },
    label: { type: 'string', description: 'GPT partition name (at most 36 UTF-16 code units)' },
    bootable: { type: 'boolean', description: 'MBR: the boot flag; GPT: the legacy BIOS bootable attribute' },
    filesystem: {
      type: 'object',
      description: 'an ext2/3/4 filesystem built from its own inputs and edits (the keys of a recipe that describe one filesystem)',
      properties: filesystemProperties,
      additionalProperties: false,
    },
    raw: { ...path, description: 'a host file, relative to the recipe, whose bytes fill the partition' },
  },
  required: ['size'],
  additionalProperties: false,
} as const;

const disk = {
  type: 'object',
  description: 'a partitioned disk instead of one filesystem: the top level then keeps only output, timestamp and $schema',
  properties: {
    table: { enum: ['gpt', 'mbr'] },
    size: { ...size, description: 'the whole disk: bytes, or "8G"; default: fitted to the partitions' },
    format: { enum: ['raw', 'qcow2'], description: 'default: raw (qcow2 when the output is named .qcow2)' },
    partitions: { type: 'array', items: partition },
  },
  required: ['table', 'partitions'],
  additionalProperties: false,
} as const;

export const RECIPE_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'extimg build recipe',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    output: { ...path, description: 'the image (or disk) file, relative to the recipe' },
    ...filesystemProperties,
    size,
    timestamp: { type: 'integer', minimum: -2147483648, maximum: 15032385535 },
    disk,
  },
} as const;
