/* rp_fw.c - a recovery point's own NVRAM file and TPM state.
 *
 * A cycle carries a UEFI VM's NVRAM file and its TPM's permanent state
 * whole (cycle.c: fw-nvram, fw-tpm).  The replica keeps them per point,
 * named like the point's disk files (NAME-DISK.rp-PT.qcow2):
 * NAME-nvram.rp-PT.fd next to the VM's NVRAM file and
 * NAME-tpm.rp-PT.permall next to its TPM directory.  The point's "fw"
 * ({nvram, tpm}, each optional) names them; a cycle that carried one of
 * them not names the previous point's file instead (the nearest older
 * copy), so a file may be named by several points and goes only when
 * none names it any more (points.c).  Only a failover copies a point's
 * files into the VM's own (rp_fw_install): QEMU and swtpm write the
 * VM's files, never a point's. */
#include <errno.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

#define RP_FW_MAX (64ULL << 20)	/* as the cycle's limit (receive.c) */

char *
rp_fw_point_path(const struct vm *vm, int64_t seq, bool nvram)
{
	const char *of = nvram ? vm->row->nvram : vm->row->tpm_dir;
	_cleanup_free_ char *dir = NULL;
	char pt[24];

	if (!of)
		return NULL;
	dir = xstrdup(of);
	replica_point_name(seq, pt);
	return xasprintf("%s/%s-%s.rp-%s.%s", dirname(dir), vm->row->name,
	    nvram ? "nvram" : "tpm", pt, nvram ? "fd" : "permall");
}

/* src copied to dst: write-temp + fsync + rename (file_write_atomic), so
 * a crash leaves dst whole, old or new. */
static int
rp_fw_copy(const char *src, const char *dst)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = file_read_all(src, RP_FW_MAX, &buf, &len)) < 0)
		return r;
	return file_write_atomic(dst, buf, len, 0600);
}

int
rp_fw_keep(struct vm *vm, int64_t seq, const char *src, bool nvram,
    json_t *fw)
{
	_cleanup_free_ char *dst = rp_fw_point_path(vm, seq, nvram);
	int r;

	if (!dst)
		return 0;	/* the replica VM has none to fail over to */
	if ((r = rp_fw_copy(src, dst)) < 0)
		return r;
	json_object_set_new(fw, nvram ? "nvram" : "tpm", json_string(dst));
	return 0;
}

void
rp_fw_unlink_own(struct vm *vm, int64_t seq)
{
	_cleanup_free_ char *nv = rp_fw_point_path(vm, seq, true);
	_cleanup_free_ char *tpm = rp_fw_point_path(vm, seq, false);

	if (nv)
		(void)unlink(nv);
	if (tpm)
		(void)unlink(tpm);
}

void
rp_fw_inherit(json_t *point, const json_t *prev)
{
	json_t *fw = json_object_get(point, "fw");
	json_t *pfw = json_object_get(prev, "fw");
	static const char *const keys[] = { "nvram", "tpm" };

	if (!json_is_object(pfw))
		return;
	if (!json_is_object(fw))
		json_object_set_new(point, "fw", fw = json_object());
	for (size_t i = 0; i < 2; i++)
		if (!json_object_get(fw, keys[i]) && rp_str(pfw, keys[i]))
			json_object_set_new(fw, keys[i], json_string(rp_str(
			    pfw, keys[i])));
	if (json_object_size(fw) == 0)
		json_object_del(point, "fw");
}

void
rp_fw_collect(const json_t *pts, json_t *set)
{
	json_t *p, *f;
	const char *k;
	size_t i;

	json_array_foreach(pts, i, p)
		json_object_foreach(json_object_get(p, "fw"), k, f)
			if (json_is_string(f))
				json_object_set_new(set, json_string_value(f),
				    json_true());
}

json_t *
rp_fw_orphans(const json_t *before, const json_t *after)
{
	json_t *was = json_object(), *now = json_object(), *out = json_array();
	json_t *v;
	const char *path;

	rp_fw_collect(before, was);
	rp_fw_collect(after, now);
	json_object_foreach(was, path, v)
		if (!json_object_get(now, path))
			json_array_append_new(out, json_string(path));
	json_decref(was);
	json_decref(now);
	return out;
}

void
rp_fw_unlink_list(const json_t *list)
{
	json_t *f;
	size_t i;

	json_array_foreach(list, i, f)
		if (json_is_string(f))
			(void)unlink(json_string_value(f));
}

/* One file of the point into the VM's place: its NVRAM file, or
 * tpm2-00.permall in its TPM directory (made when swtpm never ran). */
static int
rp_fw_install_one(struct vm *vm, const char *src, bool nvram)
{
	_cleanup_free_ char *dst = NULL;

	if (!src)
		return 0;
	if (nvram ? !vm->row->nvram : !vm->row->tpm_dir)
		return 0;
	if (nvram)
		dst = xstrdup(vm->row->nvram);
	else {
		(void)mkdir_p(vm->row->tpm_dir, 0700);
		dst = xasprintf("%s/tpm2-00.permall", vm->row->tpm_dir);
	}
	return rp_fw_copy(src, dst);
}

int
rp_fw_install(struct vm *vm, const json_t *point)
{
	const json_t *fw = json_object_get(point, "fw");
	int r;

	if ((r = rp_fw_install_one(vm, rp_str(fw, "nvram"), true)) < 0 ||
	    (r = rp_fw_install_one(vm, rp_str(fw, "tpm"), false)) < 0)
		return r;
	return 0;
}

void
rp_fw_unlink_all(const json_t *pts)
{
	json_t *none = json_array(), *gone = rp_fw_orphans(pts, none);

	rp_fw_unlink_list(gone);
	json_decref(gone);
	json_decref(none);
}

/* One fw file's name in the cluster's state: its base name (to_rel);
 * back to this node's path next to the VM's own file, or NULL when the
 * name is not one of this VM's copies or the file is not here. */
static char *
rp_fw_path_conv(const struct vm *vm, const char *s, bool nvram, bool to_rel)
{
	const char *of = nvram ? vm->row->nvram : vm->row->tpm_dir;
	_cleanup_free_ char *dir = of ? xstrdup(of) : NULL;
	_cleanup_free_ char *prefix = xasprintf("%s-%s.rp-", vm->row->name,
	    nvram ? "nvram" : "tpm");
	char *path;

	if (to_rel)
		return xstrdup(strrchr(s, '/') ? strrchr(s, '/') + 1 : s);
	if (!dir || strchr(s, '/') || strncmp(s, prefix, strlen(prefix)))
		return NULL;
	path = xasprintf("%s/%s", dirname(dir), s);
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return NULL;
}

void
rp_fw_paths(const struct vm *vm, json_t *points, bool to_rel)
{
	static const char *const keys[] = { "nvram", "tpm" };
	json_t *p, *fw;
	size_t i;

	json_array_foreach(points, i, p) {
		if (!json_is_object(fw = json_object_get(p, "fw")))
			continue;
		for (size_t k = 0; k < 2; k++) {
			const char *s = rp_str(fw, keys[k]);
			char *c = s ? rp_fw_path_conv(vm, s, k == 0, to_rel) :
			    NULL;

			if (c)
				json_object_set_new(fw, keys[k],
				    json_string(c));
			else
				json_object_del(fw, keys[k]);
			free(c);
		}
	}
}
