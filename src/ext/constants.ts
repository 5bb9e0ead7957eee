// Values from the kernel's fs/ext4/ext4.h and e2fsprogs lib/ext2fs/ext2_fs.h.
export const EXT2_SUPER_MAGIC = 0xef53;
export const SUPERBLOCK_OFFSET = 1024;
export const EXT2_GOOD_OLD_INODE_SIZE = 128;
export const EXT2_DYNAMIC_REV = 1;
export const EXT2_FIRST_INO = 11;
export const EXT2_EXTRA_ISIZE = 32; // sizeof(ext2_inode_large) - 128

// Reserved inodes.
export const EXT2_BAD_INO = 1;
export const EXT2_ROOT_INO = 2;
export const EXT2_RESIZE_INO = 7;
export const EXT2_JOURNAL_INO = 8;

// i_block slots.
export const EXT2_NDIR_BLOCKS = 12;
export const EXT2_IND_BLOCK = 12;
export const EXT2_DIND_BLOCK = 13;
export const EXT2_TIND_BLOCK = 14;
export const EXT2_N_BLOCKS = 15;

export const COMPAT_HAS_JOURNAL = 0x0004;
export const COMPAT_EXT_ATTR = 0x0008;
export const COMPAT_RESIZE_INODE = 0x0010;
export const COMPAT_DIR_INDEX = 0x0020;
export const INCOMPAT_FILETYPE = 0x0002;
export const RO_COMPAT_SPARSE_SUPER = 0x0001;
export const RO_COMPAT_LARGE_FILE = 0x0002;

export const EXT2_VALID_FS = 1;
export const EXT2_ERRORS_CONTINUE = 1;
export const EXT2_OS_LINUX = 0;
export const EXT2_FLAGS_SIGNED_HASH = 0x0001; // what mke2fs sets on x86 (signed char)
export const EXT2_HASH_HALF_MD4 = 1;
export const EXT2_DEFM_XATTR_USER = 0x0004;
export const EXT2_DEFM_ACL = 0x0008;
export const EXT3_JNL_BACKUP_BLOCKS = 1;

// i_mode file types: the tree's mode bits (src/tree/mode.ts), named here with the other on-disk values.
export { S_IF_OF, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK } from '../tree/mode.js';

// Directory entry file_type (filetype feature).
export const FT_REG_FILE = 1;
export const FT_DIR = 2;
export const FT_CHRDEV = 3;
export const FT_BLKDEV = 4;
export const FT_FIFO = 5;
export const FT_SOCK = 6;
export const FT_SYMLINK = 7;

// jbd2.
export const JBD2_MAGIC_NUMBER = 0xc03b3998;
export const JBD2_SUPERBLOCK_V2 = 4;
export const JBD2_MIN_JOURNAL_BLOCKS = 1024;
