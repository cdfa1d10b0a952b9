/* repo.h - a backup repository on a file system: its layout, opening and
 * creating it, listing its points, writing a point's manifest atomically
 * and checking a point's files against it.  Blocking file I/O: the daemon
 * calls the hashing functions from a helper, never from its loop.  Never
 * logs.  The format is documented in docs/backup-format.md.
 *
 *   REPO/tern-backup-repo              marker, exactly BK_REPO_MAGIC
 *   REPO/<vm-uuid>/<point-id>/<disk>.qcow2
 *        the disk at the point; an incremental or resync point's image
 *        has the backing file "../<parent-id>/<disk>.qcow2"
 *   REPO/<vm-uuid>/<point-id>/<disk>.map
 *        the disk's block checksum map at the point (track/blockmap.h)
 *   REPO/<vm-uuid>/<point-id>/manifest.json
 *        written LAST, atomically (temporary file, fsync, rename, fsync
 *        of the directory): a point directory without it does not exist;
 *        it is a half-made point, to be removed.
 *
 * <vm-uuid> is the VM's UUID in lower case; <point-id> is bk_point_id()
 * of the time the point was made, so the points of a VM sort in time
 * order.  Other names in REPO and REPO/<vm-uuid> are ignored. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "manifest.h"

#define BK_REPO_MARKER "tern-backup-repo"
#define BK_REPO_MAGIC "tern backup repository 1\n"

/* Check that repo is a backup repository: an existing directory holding
 * the marker with exactly BK_REPO_MAGIC.  With create, it must also be
 * writable, and an empty directory becomes a repository (the marker is
 * written and synced).  Fails with -ENOENT (missing), -ENOTDIR, -EACCES
 * or -EROFS (create, not writable), -EINVAL (a non-empty directory
 * without the marker, or a marker of another content). */
int bk_repo_open(const char *repo, bool create, struct err *err);

/* "REPO/UUID/POINT" into *ret_dir (the caller frees it); -EINVAL when
 * uuid is not bk_uuid_is_valid() or point not bk_point_id_valid(). */
int bk_point_dir(const char *repo, const char *uuid, const char *point,
    char **ret_dir, struct err *err);

/* The complete points of repo (of the VM vm_uuid, or of every VM when it
 * is NULL), sorted by VM UUID then point id, into a malloc'ed array
 * *ret_points of *ret_n manifests (free with bk_points_free).  A point
 * directory without a manifest is half-made: it is left out, and when
 * ret_half is not NULL its path is added to the malloc'ed array
 * *ret_half of *ret_n_half strings (free with bk_paths_free) for the
 * caller to remove.  A manifest that cannot be read or parsed, or that
 * names another VM or point than its directory, is an error naming its
 * path. */
int bk_points_list(const char *repo, const char *vm_uuid,
    struct bk_manifest **ret_points, size_t *ret_n, char ***ret_half,
    size_t *ret_n_half, struct err *err);
/* NULL-safe; return NULL. */
struct bk_manifest *bk_points_free(struct bk_manifest *points, size_t n);
char **bk_paths_free(char **paths, size_t n);

/* Write m as dir/manifest.json: checked first (what the parser would
 * refuse is never written, -EINVAL), then through dir/manifest.json.tmp,
 * fsync, rename and fsync of dir, so that a crash leaves no manifest or
 * the whole one. */
int bk_manifest_write(const char *dir, const struct bk_manifest *m,
    struct err *err);

/* The sha256 of the file at path as 64 lower-case hex digits and NUL. */
int bk_file_sha256(const char *path, char out[65], struct err *err);

/* Check that each image and map m names exists in m's point directory of
 * repo as a regular file (not a symlink) and has the sha256 m records;
 * the error names the file ("REPO/UUID/POINT/vda.qcow2: sha256 does not
 * match the manifest ...", -EBADMSG). */
int bk_point_check_files(const char *repo, const struct bk_manifest *m,
    struct err *err);
