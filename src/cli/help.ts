export const GLOBAL_HELP = `Usage: extimg COMMAND [options]

Build ext2/ext3 filesystem images in-process: no root, no loop mount, no mke2fs.

Commands:
  build           build an image from host directories
  help [COMMAND]  show help

Options:
  -h, --help      show this help
  -V, --version   print the version

Run 'extimg COMMAND --help' for the options of a command.
`;

export const BUILD_HELP = `Usage: extimg build -o OUTPUT [options] [INPUT...]

Build an ext2/ext3 image from the inputs, in order: later entries replace earlier
ones, directories merge. With no input the filesystem is empty.

Inputs:
  DIR                       a host directory; its contents become the image root
  DIR:/PATH                 a host directory copied to /PATH in the image
                            (archive inputs are not supported yet)

Options:
  -o, --output FILE         image to write (temp file + rename: no partial output)
  -t, --type ext2|ext3      filesystem type (default ext3)
  -b, --block-size N        1024, 2048 or 4096 (default: 1024 below 512 MiB, else 4096)
  -I, --inode-size N        128 or 256 (default 256)
  -N, --inodes N            number of inodes (default: what the tree needs + headroom)
  -L, --label TEXT          volume label, at most 16 bytes
  -U, --uuid UUID           filesystem UUID (default random, or derived when reproducible)
      --hash-seed UUID      directory hash seed (default like --uuid)
  -m, --reserved-percent N  blocks reserved for root, in percent (default 5)
      --size SIZE           image size: bytes, or with K, M, G, T (binary): 64M, 1.5G
                            (default: fit the content plus headroom)
      --headroom H          free room when fitting: a percentage (20%) or fraction (0.2)
      --journal-blocks N    ext3 journal size in blocks (default as mke2fs)
      --no-resize-inode     reserve no GDT blocks for online resizing
      --owner UID:GID       owner of every input file (default: the host's owners)
      --timestamp SECONDS   build reproducibly as of this time
                            (default: $SOURCE_DATE_EPOCH when set)
      --json                print a JSON summary to stdout
  -q, --quiet               no progress and no summary
      --debug               show stack traces on errors
  -h, --help                show this help
`;
