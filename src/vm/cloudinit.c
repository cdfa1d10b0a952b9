/* cloudinit.c - a VM's NoCloud seed (see cloudinit.h).
 *
 *   POST /v1/vms: cloudinit_plan (files read and checked, the static
 *   addresses checked against the NICs, the seed's path named)
 *   --vm.create, after the disks--> cloudinit_seed_spawn (staging
 *   DIR/.NAME-seed.d/{user-data,meta-data,network-config}, genisoimage)
 *   --exit 0--> cloudinit_seed_cleanup(staging) --> the VM is off
 *   any failure: the create's rollback removes both. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "altip_parse.h"
#include "cloudinit.h"
#include "cloudinit_yaml.h"
#include "fsutil.h"
#include "job.h"
#include "jsonutil.h"
#include "util.h"
#include "vm_limits.h"

static char *
seed_dir_of(const struct vm_row *row)
{
	char *dir = xstrdup(row->disks[0].path);
	char *slash = strrchr(dir, '/');

	if (slash)
		*slash = '\0';
	return dir;
}

static char *
seed_staging(const struct vm_row *row)
{
	_cleanup_free_ char *dir = seed_dir_of(row);

	return xasprintf("%s/.%s-seed.d", dir, row->name);
}

static int
read_input(const char *what, const char *path, size_t max, char **ret,
    size_t *ret_len, struct err *err)
{
	int r = file_read_all(path, max + 1, ret, ret_len);

	if (r == -EFBIG || r == -E2BIG || (r == 0 && *ret_len > max)) {
		if (r == 0)
			free(*ret);
		return err_set(err, -E2BIG, "%s file '%s' is over %zu KiB",
		    what, path, max >> 10);
	}
	if (r < 0)
		return err_setf_errno(err, r, "cannot read %s file '%s'",
		    what, path);
	return 0;
}

static int
plan_texts(const char *ud_path, const char *key_path, struct vm_row *row,
    json_t **ret, struct err *err)
{
	_cleanup_free_ char *ud = NULL, *keys = NULL, *meta = NULL;
	size_t ud_len = 0, keys_len = 0;
	struct err e = { 0 };
	int r;

	if ((r = read_input("cloud-init", ud_path, CI_USER_DATA_MAX, &ud,
	    &ud_len, err)) < 0)
		return r;
	if ((r = ci_user_data_check(ud, ud_len, &e)) < 0)
		return err_set(err, r, "cloud-init file '%s': %s", ud_path,
		    e.msg);
	if (key_path && (r = read_input("SSH key", key_path,
	    CI_SSH_KEYS_MAX, &keys, &keys_len, err)) < 0)
		return r;
	if ((r = ci_meta_data(row->uuid, row->name, keys, keys_len, &meta,
	    err)) < 0)
		return r;
	*ret = json_pack("{s{s:s%, ss}}", "seed", "user_data", ud, ud_len,
	    "meta_data", meta);
	return *ret ? 0 : err_set(err, -EINVAL, "the cloud-init file is "
	    "not UTF-8 text");
}

/* "cloud_init_net": ["nic1=ADDR/PREFIX,gw=GW", ...] (altip_parse.c's
 * text) into *ret_net, an object by NIC (empty: none given). */
static int
plan_net_args(const json_t *args, json_t **ret_net, struct err *err)
{
	_cleanup_json_ json_t *net = json_object();
	const json_t *a;
	size_t i;

	if (args && (!json_is_array(args) || json_array_size(args) >
	    VM_MAX_NICS))
		return err_set(err, -EINVAL, "cloud_init_net must be a list of "
		    "at most %d NIC=ADDR/PREFIX[,gw=GW][,dns=D1;D2]",
		    VM_MAX_NICS);
	json_array_foreach(args, i, a) {
		_cleanup_free_ char *nic = NULL;
		json_t *cfg = NULL;
		int r;

		if (!json_is_string(a))
			return err_set(err, -EINVAL, "cloud_init_net[%zu] must "
			    "be text NIC=ADDR/PREFIX...", i);
		if ((r = altip_parse("--cloud-init-net", json_string_value(a),
		    &nic, &cfg, err)) < 0)
			return r;
		if (json_is_null(cfg) || json_object_get(net, nic)) {
			json_decref(cfg);
			return err_set(err, -EINVAL, "--cloud-init-net %s: %s",
			    nic, json_object_get(net, nic) ? "given twice" :
			    "a NIC without a static address gets DHCP; leave "
			    "it out rather than give none");
		}
		json_object_set_new(net, nic, cfg);
	}
	*ret_net = TAKE_PTR(net);
	return 0;
}

/* The network-config of row's NICs and the request's static addresses
 * into seed ("network_config", absent for a VM without NICs); the
 * addresses recorded in row->cloud_init_net. */
static int
plan_net(const json_t *body, struct vm_row *row, json_t *seed,
    struct err *err)
{
	_cleanup_json_ json_t *net = NULL;
	_cleanup_free_ char *text = NULL;
	const char *macs[VM_MAX_NICS];
	int r;

	if ((r = plan_net_args(json_object_get(body, "cloud_init_net"), &net,
	    err)) < 0)
		return r;
	for (size_t i = 0; i < row->n_nics && i < VM_MAX_NICS; i++)
		macs[i] = row->nics[i].mac;
	if ((r = ci_network_config(macs, row->n_nics, net, &text, err)) < 0)
		return r;
	if (text)
		json_object_set_new(seed, "network_config", json_string(text));
	free(row->cloud_init_net);
	row->cloud_init_net = json_object_size(net) ? json_dumps(net,
	    JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	return 0;
}

int
cloudinit_plan(struct host *h, const json_t *body, struct vm_row *row,
    json_t **ret_details, struct err *err)
{
	const char *ud = NULL, *key = NULL;
	_cleanup_free_ char *dir = NULL;
	int r;

	(void)h;
	*ret_details = NULL;
	if ((r = json_get_str(body, "cloud_init", false, &ud, err)) < 0 ||
	    (r = json_get_str(body, "ssh_key", false, &key, err)) < 0)
		return r;
	if (key && !ud)
		return err_set(err, -EINVAL, "--ssh-key goes into the "
		    "cloud-init seed: give --cloud-init FILE too");
	if (json_object_get(body, "cloud_init_net") && !ud)
		return err_set(err, -EINVAL, "--cloud-init-net goes into the "
		    "cloud-init seed: give --cloud-init FILE too");
	if (!ud)
		return 0;
	if (ud[0] != '/' || (key && key[0] != '/'))
		return err_set(err, -EINVAL, "cloud_init and ssh_key must be "
		    "absolute paths");
	if (!exe_is_found("genisoimage"))
		return err_set(err, -ENOENT, "--cloud-init needs genisoimage: "
		    "install Debian's package genisoimage");
	if (row->n_disks == 0)
		return err_set(err, -EINVAL, "the cloud-init seed is kept next "
		    "to the VM's first disk: give the VM a disk");
	dir = seed_dir_of(row);
	free(row->cloud_init_seed);
	row->cloud_init_seed = xasprintf("%s/%s-seed.iso", dir, row->name);
	if (access(row->cloud_init_seed, F_OK) == 0)
		return err_set(err, -EEXIST, "file '%s' already exists; remove "
		    "it or choose another VM name", row->cloud_init_seed);
	if ((r = plan_texts(ud, key, row, ret_details, err)) < 0 ||
	    (r = plan_net(body, row, json_object_get(*ret_details, "seed"),
	    err)) < 0) {
		json_decref(*ret_details);
		*ret_details = NULL;
		return r;
	}
	return 0;
}

static int
write_text(const char *dir, const char *name, const json_t *seed,
    const char *key, struct err *err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
	const json_t *v = json_object_get(seed, key);
	int r = file_write_atomic(p, json_string_value(v),
	    json_string_length(v), 0600);

	return r < 0 ? err_setf_errno(err, r, "cannot write '%s'", p) : 0;
}

int
cloudinit_seed_spawn(struct job *job, const struct vm_row *row,
    child_exit_fn fn, struct err *err)
{
	const json_t *seed = json_object_get(job->details, "seed");
	_cleanup_free_ char *st = seed_staging(row);
	_cleanup_free_ char *ud = xasprintf("user-data=%s/user-data", st);
	_cleanup_free_ char *md = xasprintf("meta-data=%s/meta-data", st);
	_cleanup_free_ char *nc = xasprintf("network-config=%s/network-config",
	    st);
	bool net = json_object_get(seed, "network_config") != NULL;
	const char *argv[] = { "genisoimage", "-quiet", "-output",
		row->cloud_init_seed, "-volid", "cidata", "-joliet", "-rock",
		"-graft-points", ud, md, net ? nc : NULL, NULL };
	int r;

	(void)dir_remove_flat(st);
	if (mkdir(st, 0700) == -1)
		return err_setf_errno(err, -errno, "cannot create '%s'", st);
	if ((r = write_text(st, "user-data", seed, "user_data", err)) < 0 ||
	    (r = write_text(st, "meta-data", seed, "meta_data", err)) < 0 ||
	    (net && (r = write_text(st, "network-config", seed,
	    "network_config", err)) < 0))
		return r;
	r = job_spawn(job, argv, NULL, fn);
	if (r < 0)
		return err_setf_errno(err, r, "cannot run genisoimage (install "
		    "Debian's package genisoimage)");
	return 0;
}

void
cloudinit_seed_cleanup(const struct vm_row *row, bool all)
{
	_cleanup_free_ char *st = NULL;

	if (!row->cloud_init_seed || row->n_disks == 0)
		return;
	st = seed_staging(row);
	(void)dir_remove_flat(st);
	if (all)
		(void)unlink(row->cloud_init_seed);
}
