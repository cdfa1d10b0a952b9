/* repo.c - the backup repository on disk: open/create, the points of its
 * VMs, the atomic manifest write, sha256 of files and the check of a
 * point's files.  Blocking file I/O (see repo.h); never logs; removes
 * nothing (half-made points are reported, the caller removes them). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "repo.h"
#include "util.h"

#define SHA256_CHUNK (1024 * 1024)

/* After a rename or a create in dir, so that the new name survives a
 * crash. */
static int
fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);

	if (fd == -1 || fsync(fd) == -1)
		return -errno;
	return 0;
}

static int
dir_is_empty(const char *dir, bool *ret)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool empty = true;

	if (!d)
		return -errno;
	while (empty && (de = readdir(d)))
		empty = streq(de->d_name, ".") || streq(de->d_name, "..");
	closedir(d);
	*ret = empty;
	return 0;
}

static int
repo_marker_check(const char *repo, const char *marker, struct err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = file_read_all(marker, 64, &buf, &len);

	if (r == -EFBIG || (r == 0 && !streq(buf, BK_REPO_MAGIC)))
		return err_set(err, -EINVAL, "'%s' does not say \"tern backup "
		    "repository 1\": a repository of a newer tern, or a "
		    "damaged one; not touching '%s'", marker, repo);
	if (r < 0)
		return err_setf_errno(err, r, "cannot read '%s'", marker);
	return 0;
}

static int
repo_create(const char *repo, const char *marker, struct err *err)
{
	bool empty = false;
	int r;

	if ((r = dir_is_empty(repo, &empty)) < 0)
		return err_setf_errno(err, r, "cannot list '%s'", repo);
	if (!empty)
		return err_set(err, -EINVAL, "'%s' is not a tern backup "
		    "repository (no %s file); give an empty directory or an "
		    "existing repository", repo, BK_REPO_MARKER);
	if ((r = file_write_atomic(marker, BK_REPO_MAGIC,
	    strlen(BK_REPO_MAGIC), 0644)) < 0 || (r = fsync_dir(repo)) < 0)
		return err_setf_errno(err, r, "cannot write '%s'", marker);
	return 0;
}

int
bk_repo_open(const char *repo, bool create, struct err *err)
{
	_cleanup_free_ char *marker = xasprintf("%s/%s", repo,
	    BK_REPO_MARKER);
	struct stat st;

	if (stat(repo, &st) == -1)
		return errno == ENOENT ? err_set(err, -ENOENT, "backup "
		    "repository '%s' does not exist; create the directory "
		    "first", repo) : err_setf_errno(err, -errno, "cannot reach "
		    "backup repository '%s'", repo);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, -ENOTDIR, "backup repository '%s' is not "
		    "a directory", repo);
	if (create && access(repo, W_OK) == -1)
		return err_setf_errno(err, -errno, "backup repository '%s' is "
		    "not writable", repo);
	if (access(marker, F_OK) == 0)
		return repo_marker_check(repo, marker, err);
	if (!create)
		return err_set(err, -EINVAL, "'%s' is not a tern backup "
		    "repository (no %s file); give an existing repository",
		    repo, BK_REPO_MARKER);
	return repo_create(repo, marker, err);
}

int
bk_point_dir(const char *repo, const char *uuid, const char *point,
    char **ret_dir, struct err *err)
{
	if (!bk_uuid_is_valid(uuid))
		return err_set(err, -EINVAL, "'%.40s' is not a VM UUID in "
		    "lower case", uuid);
	if (!bk_point_id_valid(point))
		return err_set(err, -EINVAL, "'%.40s' is not a point id "
		    "(YYYYMMDDTHHMMSSmmmZ)", point);
	*ret_dir = xasprintf("%s/%s/%s", repo, uuid, point);
	return 0;
}

/* What bk_points_list gathers. */
struct point_list {
	struct bk_manifest *points;
	size_t n, cap;
	char **half;
	size_t n_half, cap_half;
};

static void
point_list_done(struct point_list *l)
{
	bk_points_free(l->points, l->n);
	bk_paths_free(l->half, l->n_half);
	memset(l, 0, sizeof(*l));
}

static void
point_list_add_half(struct point_list *l, char *dir)
{
	if (l->n_half == l->cap_half) {
		l->cap_half = l->cap_half ? 2 * l->cap_half : 8;
		l->half = xrealloc(l->half, l->cap_half * sizeof(*l->half));
	}
	l->half[l->n_half++] = dir;
}

static struct bk_manifest *
point_list_add(struct point_list *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->points = xrealloc(l->points, l->cap * sizeof(*l->points));
	}
	return &l->points[l->n++];
}

/* REPO/UUID/POINT: a complete point, or a half-made one. */
static int
read_point(const char *dir, const char *uuid, const char *point,
    struct point_list *l, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, BK_MANIFEST);
	_cleanup_free_ char *buf = NULL;
	struct bk_manifest *m;
	struct err e = { 0 };
	size_t len = 0;
	int r = file_read_all(path, BK_MANIFEST_MAX, &buf, &len);

	if (r == -ENOENT) {
		point_list_add_half(l, xstrdup(dir));
		return 0;
	}
	if (r == -EFBIG)
		return err_set(err, -EINVAL, "%s: over %d bytes, not a "
		    "manifest", path, BK_MANIFEST_MAX);
	if (r < 0)
		return err_setf_errno(err, r, "cannot read '%s'", path);
	m = point_list_add(l);
	if ((r = bk_manifest_parse(buf, len, m, &e)) < 0) {
		l->n--;
		return err_set(err, r, "%s: %s", path, e.msg);
	}
	if (!streq(m->vm_uuid, uuid) || !streq(m->point, point))
		return err_set(err, -EINVAL, "%s: names vm %s point %s, not "
		    "the directory's; the repository was rearranged by hand",
		    path, m->vm_uuid, m->point);
	return 0;
}

/* A directory, not a symlink to one: a repository holds no links. */
static bool
is_subdir(DIR *d, const char *name)
{
	struct stat st;

	return fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode);
}

/* Every point of one VM; a VM without a directory has none. */
static int
list_vm(const char *repo, const char *uuid, struct point_list *l,
    struct err *err)
{
	_cleanup_free_ char *vdir = xasprintf("%s/%s", repo, uuid);
	DIR *d = opendir(vdir);
	struct dirent *de;
	int r = 0;

	if (!d && errno == ENOENT)
		return 0;
	if (!d)
		return err_setf_errno(err, -errno, "cannot list '%s'", vdir);
	while (r == 0 && (de = readdir(d))) {
		_cleanup_free_ char *pdir = NULL;

		if (!bk_point_id_valid(de->d_name) || !is_subdir(d, de->d_name))
			continue;
		pdir = xasprintf("%s/%s", vdir, de->d_name);
		r = read_point(pdir, uuid, de->d_name, l, err);
	}
	closedir(d);
	return r;
}

static int
list_repo(const char *repo, struct point_list *l, struct err *err)
{
	DIR *d = opendir(repo);
	struct dirent *de;
	int r = 0;

	if (!d)
		return err_setf_errno(err, -errno, "cannot list backup "
		    "repository '%s'", repo);
	while (r == 0 && (de = readdir(d)))
		if (bk_uuid_is_valid(de->d_name) && is_subdir(d, de->d_name))
			r = list_vm(repo, de->d_name, l, err);
	closedir(d);
	return r;
}

static int
point_cmp(const void *a, const void *b)
{
	const struct bk_manifest *x = a, *y = b;
	int c = strcmp(x->vm_uuid, y->vm_uuid);

	return c ? c : strcmp(x->point, y->point);
}

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
bk_points_list(const char *repo, const char *vm_uuid,
    struct bk_manifest **ret_points, size_t *ret_n, char ***ret_half,
    size_t *ret_n_half, struct err *err)
{
	struct point_list l = { 0 };
	int r;

	if (vm_uuid && !bk_uuid_is_valid(vm_uuid))
		return err_set(err, -EINVAL, "'%.40s' is not a VM UUID in "
		    "lower case", vm_uuid);
	r = vm_uuid ? list_vm(repo, vm_uuid, &l, err) :
	    list_repo(repo, &l, err);
	if (r < 0) {
		point_list_done(&l);
		return r;
	}
	if (l.n)
		qsort(l.points, l.n, sizeof(*l.points), point_cmp);
	if (l.n_half)
		qsort(l.half, l.n_half, sizeof(*l.half), path_cmp);
	*ret_points = TAKE_PTR(l.points);
	*ret_n = l.n;
	if (ret_half) {
		*ret_half = TAKE_PTR(l.half);
		*ret_n_half = l.n_half;
	}
	point_list_done(&l);
	return 0;
}

struct bk_manifest *
bk_points_free(struct bk_manifest *points, size_t n)
{
	for (size_t i = 0; points && i < n; i++)
		bk_manifest_clear(&points[i]);
	free(points);
	return NULL;
}

char **
bk_paths_free(char **paths, size_t n)
{
	for (size_t i = 0; paths && i < n; i++)
		free(paths[i]);
	free(paths);
	return NULL;
}

int
bk_manifest_write(const char *dir, const struct bk_manifest *m,
    struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, BK_MANIFEST);
	_cleanup_json_ json_t *j = bk_manifest_to_json(m);
	_cleanup_free_ char *text = NULL;
	struct bk_manifest back;
	struct err e = { 0 };
	int r;

	if (!j)
		return err_set(err, -EINVAL, "%s: the manifest is incomplete "
		    "(no VM description?); not writing it", path);
	text = json_dumps(j, JSON_INDENT(1));
	if (!text || bk_manifest_parse(text, strlen(text), &back, &e) < 0)
		return err_set(err, -EINVAL, "%s: not writing a manifest the "
		    "reader would refuse: %s", path, e.msg);
	bk_manifest_clear(&back);
	if ((r = file_write_atomic(path, text, strlen(text), 0600)) < 0 ||
	    (r = fsync_dir(dir)) < 0)
		return err_setf_errno(err, r, "cannot write '%s'", path);
	return 0;
}

static int
hash_fd(int fd, gnutls_hash_hd_t h)
{
	_cleanup_free_ char *buf = xmalloc(SHA256_CHUNK);
	ssize_t n;

	for (;;) {
		n = read(fd, buf, SHA256_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		if (n == 0)
			return 0;
		if (gnutls_hash(h, buf, n) < 0)
			return -EIO;
	}
}

int
bk_file_sha256(const char *path, char out[65], struct err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	gnutls_hash_hd_t h;
	uint8_t digest[32];
	int r;

	if (fd == -1)
		return err_setf_errno(err, -errno, "cannot open '%s'", path);
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return err_set(err, -EIO, "cannot start a sha256 of '%s' "
		    "(GnuTLS)", path);
	r = hash_fd(fd, h);
	gnutls_hash_deinit(h, digest);
	if (r < 0)
		return err_setf_errno(err, r, "cannot read '%s'", path);
	hex_encode(digest, sizeof(digest), out);
	return 0;
}

/* One file of a point: there, regular, and of the recorded sha256. */
static int
check_file(const char *dir, const char *name, const char *want,
    struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	char sum[65];
	struct stat st;
	int r;

	if (lstat(path, &st) == -1)
		return err_setf_errno(err, -errno, "%s: missing from the "
		    "point (the point is damaged)", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, -EBADMSG, "%s: not a regular file (the "
		    "point is damaged)", path);
	if ((r = bk_file_sha256(path, sum, err)) < 0)
		return r;
	if (!streq(sum, want))
		return err_set(err, -EBADMSG, "%s: sha256 does not match the "
		    "manifest (file changed or corrupt)", path);
	return 0;
}

int
bk_point_check_files(const char *repo, const struct bk_manifest *m,
    struct err *err)
{
	_cleanup_free_ char *dir = NULL;
	int r;

	if ((r = bk_point_dir(repo, m->vm_uuid, m->point, &dir, err)) < 0)
		return r;
	for (size_t i = 0; i < m->n_disks; i++) {
		const struct bk_disk *d = &m->disks[i];

		if ((r = check_file(dir, d->image, d->image_sha256, err)) < 0 ||
		    (r = check_file(dir, d->map, d->map_sha256, err)) < 0)
			return r;
	}
	return 0;
}
