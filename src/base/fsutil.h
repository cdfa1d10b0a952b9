/* fsutil.h - small file system helpers: directories, whole-file reads with
 * a limit, atomic writes, and "is this path inside that directory". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdir -p with mode; 0 or -errno. */
int mkdir_p(const char *path, unsigned mode);

/* Read at most max bytes of path into a NUL-terminated buffer the caller
 * frees.  -EFBIG when the file is larger than max. */
int file_read_all(const char *path, size_t max, char **ret_buf,
    size_t *ret_len);

/* The last non-empty line of path (lines end in \n or \r: progress
 * output rewrites its line with \r), from its last 4 KiB, which the
 * caller frees; NULL when it cannot be read or has none. */
char *file_last_line(const char *path);

/* Write data to path through a temporary file, fsync and rename, so that a
 * crash leaves either the old or the new contents. */
int file_write_atomic(const char *path, const void *data, size_t len,
    unsigned mode);

/* True when path (which need not exist yet; its parent must) lies inside
 * dir after resolving symlinks and "..". */
bool path_is_under(const char *path, const char *dir);

/* Remove dir and the files in it (flat: no subdirectories); 0 also when
 * it is not there, else the last -errno. */
int dir_remove_flat(const char *dir);

/* Is bin executable: a path with '/', or a name found in $PATH? */
bool exe_is_found(const char *bin);

/* fsync the directory that holds path, so that a rename or a new entry in
 * it is durable; errors are ignored (a best effort after the data's own
 * fsync). */
void fsync_parent_dir(const char *path);

/* Whether an argument of process pid's command line is needle (whole) or,
 * with part, holds it.  False when the process is gone or unreadable. */
bool proc_cmdline_has(pid_t pid, const char *needle, bool part);

/* Free bytes for unprivileged users on the file system holding path. */
int fs_free_bytes(const char *path, uint64_t *ret_bytes);

/* Set O_CLOEXEC and O_NONBLOCK on fd. */
int fd_set_cloexec_nonblock(int fd);

/* Where a tern helper program (tern-blockcopy, tern-lease, ...) is: next
 * to the running executable when it is there (the build tree, or every
 * program in one directory), else in TERN_LIBEXECDIR (/usr/libexec/tern
 * when installed).  Returns a new string. */
char *helper_exe_path(const char *name);
/* The same, with self_dir as the running executable's directory (NULL: not
 * known) and libexec_dir as the installed directory; for tests. */
char *helper_exe_path_in(const char *self_dir, const char *libexec_dir,
    const char *name);
