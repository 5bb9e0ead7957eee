export const GLOBAL_HELP = `Usage: extimg COMMAND [options]

Build ext2/ext3/ext4 filesystem images in-process: no root, no loop mount, no mke2fs.

Commands:
  build           build an image from host directories, archives, edits or a recipe
  schema          print the JSON Schema of recipes (build, initrd-rewrite, initrd-create)
  initrd          list, extract or rewrite a Linux initrd (initramfs cpio segments)
  image           list, read, extract or describe an ext2/3/4 image, disk or qcow2
  edit            change an ext2/3/4 image, or a filesystem on a disk or qcow2, in place
  help [COMMAND]  show help

Options:
  -h, --help      show this help
  -V, --version   print the version

Run 'extimg COMMAND --help' for the options of a command.
`;

export const BUILD_HELP = `Usage: extimg build -o OUTPUT [options] [INPUT...]
       extimg build --recipe FILE [options] [INPUT...]

Build an ext2/ext3/ext4 image from the inputs, in order: later entries replace earlier
ones, directories merge. Then device tables and edits apply, in command-line order.
With no input the filesystem is empty.

Inputs:
  DIR                       a host directory; its contents become the image root
  FILE                      an archive: tar (any compression), cpio, .deb, .rpm, pacman;
                            format and compression are read from the bytes
  -                         an archive (tar in any compression, or cpio) on standard input:
                            docker export c | extimg build -o root.img -
  IMAGE                     a container image: an OCI image layout directory, an OCI
                            archive, or docker save output (both forms); its layers are
                            applied in order with whiteouts, every blob checked against
                            its digest
  IMAGE@REF                 the image with this ref (tag) when IMAGE holds several
  SRC:/PATH                 any of these placed at /PATH in the image

Options:
  -o, --output FILE         image to write (temp file + rename: no partial output)
  -t, --type ext2|ext3|ext4 filesystem type (default ext3); features as mke2fs.conf gives
                            them (ext4: extent, 64bit, flex_bg, metadata_csum, huge_file,
                            dir_nlink, extra_isize, has_journal)
  -O, --features LIST       add features, or remove them with ^: -O ^has_journal,
                            -O metadata_csum_seed (as mke2fs -O); repeatable
  -b, --block-size N        1024, 2048 or 4096 (default: 1024 below 512 MiB, else 4096)
  -I, --inode-size N        128 or 256 (default 256)
  -N, --inodes N            number of inodes (default: what the tree needs + headroom)
  -L, --label TEXT          volume label, at most 16 bytes
  -U, --uuid UUID           filesystem UUID (default random, or derived when reproducible)
      --hash-seed UUID      directory hash seed (default like --uuid)
  -m, --reserved-percent N  blocks reserved for root, in percent (default 5)
      --size SIZE           image size: bytes, or with K, M, G, T (binary): 64M, 1.5G
                            (default: fit the content plus headroom)
      --headroom H          free room when fitting: a percentage (20%) or fraction (0.2);
                            default 5%, and at least 256 free inodes unless 0
      --journal-blocks N    journal size in blocks (default as mke2fs)
      --no-resize-inode     reserve no GDT blocks for online resizing
      --partition-table gpt|mbr
                            write a whole disk: the filesystem in partition 1 at 1 MiB;
                            --size is then the disk's size (default: fit the filesystem)
      --partition-type T    GPT: linux (default), root-x86-64, root-arm64, usr-x86-64, esp,
                            home, srv, var, tmp, swap, ... or a type GUID; MBR: linux (83),
                            or a type byte
      --partition-label L   GPT partition name (at most 36 characters)
      --format raw|qcow2    output format (default: qcow2 when OUTPUT ends in .qcow2):
                            qcow2 v3 holding only the clusters that hold data
      --owner UID:GID       owner of every input file (default: the host's owners)
      --timestamp SECONDS   build reproducibly as of this time
                            (default: $SOURCE_DATE_EPOCH when set)
      --exclude GLOB        leave out input entries matching GLOB, as tar --exclude
                            ('*.pyc', 'usr/share/doc'; '/x' anchors at the input's
                            root; a directory takes its contents along); repeatable;
                            a pattern that matches nothing is named in a warning
  -x, --one-file-system     host directory inputs: do not cross into other filesystems
                            (mount points become empty directories, as tar/cp/rsync -x)
      --platform OS/ARCH[/VARIANT]
                            container images: the image for this platform of an index
                            (default linux/amd64 where there is a choice)
      --ref REF             container images: the image with this ref among several
      --no-package-db       do not record .deb and pacman inputs in /var/lib/dpkg and
                            /var/lib/pacman/local (recorded by default: dpkg -l, pacman -Q)
      --recipe FILE         read options, inputs and edits from a JSON recipe; options
                            given here override it ('extimg schema' prints its schema)
      --json                print a JSON summary to stdout
  -q, --quiet               no progress and no summary
      --debug               show stack traces on errors
  -h, --help                show this help

Edits (after the inputs, in the order given; each may be repeated):
      --write PATH=SRC      write the host file SRC to PATH
      --write-text PATH=TEXT
                            write TEXT (as given, no newline added) to PATH
      --append PATH=SRC     append the host file SRC to PATH (created if missing)
      --append-text PATH=TEXT
                            append TEXT to PATH
      --mkdir PATH[:MODE]   mkdir -p (MODE octal, e.g. /tmp:1777)
      --symlink PATH=TARGET make PATH a symlink to TARGET
      --link PATH=EXISTING  make PATH a hard link to EXISTING
      --mknod PATH:TYPE:MAJOR:MINOR[:MODE]
                            a device node, TYPE c or b (e.g. /dev/xvda:b:220:0:0660);
                            PATH:p[:MODE] a FIFO, PATH:s[:MODE] a socket
      --chmod PATH=MODE     octal (0600) or symbolic (u+s, go-w)
      --chown PATH=OWNER    UID:GID, or USER:GROUP from the image's /etc/passwd, group
      --rm PATH             remove PATH and everything below it
      --rm-f PATH           the same, and a missing PATH is fine (rm -rf)
      --mv FROM=TO          move FROM to TO (into TO if it is a directory); parents made
  -D, --devices FILE[:/PATH]
                            apply a genext2fs device table (at /PATH)
      --sed PATH=SCRIPT     s/RE/REPLACEMENT/FLAGS commands (POSIX ERE as sed -E; flags g,
                            N, I; addresses N and /RE/; several separated by ; or newlines)
                            on PATH's bytes; a command that matches nothing is an error
      --sysusers FILE       users and groups from systemd-sysusers lines (u, g, m, r):
                            /etc/passwd, group, shadow, gshadow; homes under /home from
                            /etc/skel; base-passwd's masters when the image has no passwd
      --password USER=TEXT  set USER's password, hashed as the image's distribution does
                            (yescrypt for Debian >= 11, else SHA-512; --password-scheme)
      --password-file USER=FILE
                            the same, the password being FILE's first line (kept out of the
                            command line, which other users can read in /proc)
      --password-hash USER=HASH
                            set USER's password to a crypt(3) hash ('$y$...', '$6$...')
      --lock USER           lock USER's password (usermod -L)
Edited paths are image paths; PATH ends at the first '='.

      --password-scheme yescrypt|sha512crypt|sha256crypt
                            the hash for --password (default: the image's distribution's)
`;

export const SCHEMA_HELP = `Usage: extimg schema [build|initrd-rewrite|initrd-create]

Print the JSON Schema (draft 2020-12) of recipe files: 'extimg build --recipe' (the default),
'extimg initrd rewrite --recipe' or 'extimg initrd create --recipe', e.g. for an editor:
extimg schema > extimg-recipe.schema.json
`;

export const INITRD_HELP = `Usage: extimg initrd ls FILE [--json]
       extimg initrd extract FILE DIR
       extimg initrd rewrite FILE -o OUT [edits] [--compress ...] [--append-segment] [--recipe FILE]
       extimg initrd create -o OUT [--compress ...] [edits] [--recipe FILE] INPUT...

Read a Linux initrd as the kernel unpacks it: uncompressed newc cpio segments (early
microcode) and compressed ones (gzip, xz, zstd, lz4 -l, bzip2, lzma), zeros between.

Commands:
  create -o OUT INPUT...    build a new initrd from directories and archives as 'extimg build'
                            reads them (see 'extimg initrd create --help')
  rewrite FILE -o OUT       edit and repack (see 'extimg initrd rewrite --help'): early
                            segments kept byte for byte, the main one rebuilt and compressed
                            as before or with --compress (gzip, zstd, xz, lz4, bzip2, lzma,
                            none); --append-segment adds one segment
  ls FILE                   every entry, segment by segment: segment, compression, type
                            (d - l c b p s), mode (octal), uid, gid, size (or major,minor),
                            name (non-UTF-8 bytes as \\xNN), symlink target
  extract FILE DIR          extract into DIR without root: files, directories, symlinks, hard
                            links, modes and mtimes. Device nodes, fifos, sockets and owners go
                            to DIR.extimg-manifest.json beside DIR (owners are also applied as
                            root). Names with '..' and paths through symlinks are refused with
                            a warning; nothing is written outside DIR.

Options:
      --json                ls: a JSON array of objects
  -q, --quiet               extract: no summary line
  -h, --help                show this help
`;

export const IMAGE_HELP = `Usage: extimg image ls IMAGE [PATH] [-R] [--json]
       extimg image cat IMAGE PATH
       extimg image extract IMAGE DIR [PATH]
       extimg image info IMAGE [--json]

Look inside an ext2/ext3/ext4 filesystem without mounting it and without root: a raw image, a
disk with a GPT or MBR partition table, or either as qcow2. A disk with one ext partition is
read as it is; otherwise name the partition as IMAGE@N, numbered as the kernel numbers them
(vda2 is @2). PATHs are paths in the image: symlinks resolve inside it (an absolute target
starts at the image's root), never on the host.

Commands:
  ls IMAGE [PATH]           as ls -l: type and mode, links, uid, gid, size (major, minor for
                            devices), mtime (UTC), name (non-UTF-8 bytes as \\xNN), -> target.
                            A directory's entries by name; a file or symlink itself
  cat IMAGE PATH            the file's bytes to standard output (symlinks followed)
  extract IMAGE DIR [PATH]  the whole tree, or the one at PATH, into DIR without root: files,
                            directories, symlinks, hard links, modes and mtimes. Device nodes,
                            fifos, sockets, owners and xattrs go to DIR.extimg-manifest.json
                            beside DIR (owners are also applied as root). Nothing is written
                            outside DIR; no symlink is followed
  info IMAGE                the partition table, and each ext filesystem's summary as
                            dumpe2fs -h shows it (times in UTC)

Options:
  -R, --recursive           ls: every entry below PATH, with its path
      --json                ls, info: JSON (ls: path, type, mode, uid, gid, size, mtime,
                            links, ino, target, major, minor, xattrs in base64)
  -q, --quiet               extract: no summary line
      --debug               show stack traces on errors
  -h, --help                show this help
`;

export const EDIT_HELP = `Usage: extimg edit IMAGE [--partition N] [SRC:/PATH...] [edits]

Change an ext2/3/4 filesystem without mounting it: a bare image, or one partition of a raw or
qcow2 disk (IMAGE@N or --partition N; a disk with one ext partition needs neither). Inputs
(host directories, archives, images: SRC:/PATH as in build) and edits apply to the filesystem's
tree; the filesystem is then written anew with the same type, features, UUID, label, hash seed,
block and inode size, and size, into a new file renamed over IMAGE. On a disk the partition
table and every other partition are copied byte for byte; a qcow2 stays qcow2. A failed edit
leaves IMAGE as it was; an edit that no longer fits the filesystem's size is refused with the
size it would need.

Edits (as in build, applied in command-line order; see 'extimg build --help'):
  --write PATH=SRC  --write-text PATH=TEXT  --append PATH=SRC  --append-text PATH=TEXT
  --mkdir PATH[:MODE]  --symlink PATH=TARGET  --link PATH=EXISTING
  --mknod PATH:TYPE:MAJOR:MINOR[:MODE]  --chmod PATH=MODE  --chown PATH=OWNER
  --rm PATH  --rm-f PATH  --mv FROM=TO  -D, --devices FILE[:/PATH]
  --sed PATH=SCRIPT  --sysusers FILE  --password USER=TEXT  --password-file USER=FILE
  --password-hash USER=HASH  --lock USER  (--password-scheme yescrypt|sha512crypt|sha256crypt)

Options:
  -p, --partition N     the partition to edit (numbered as the kernel numbers them)
  --exclude GLOB        leave out input entries (not the image's own) matching GLOB
  --timestamp SECONDS   time for new entries (default: $SOURCE_DATE_EPOCH, else now)
  --json                print a JSON summary to stdout
  -q, --quiet           no summary
  --debug               stack traces on errors
  -h, --help            show this help

Examples:
  extimg edit root.img --write-text /etc/hostname=$'vm2\\n' --rm-f /etc/machine-id
  extimg edit debian.qcow2@1 --write /boot/initrd.img-6.1.0-13-amd64=new.initrd
  extimg edit disk.img --partition 2 ./overlay:/opt/app

Today edit rewrites the whole filesystem (inode numbers may change; contents, owners, modes,
times, xattrs and links are kept). Writing in place through the journal is a later step.
`;
