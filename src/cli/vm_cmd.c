/* vm_cmd.c - the "tern vm" commands: build requests from the command line,
 * follow the jobs they start, show VMs and their consoles.  Checks only
 * what the command line can get wrong (numbers, sizes, option pairs);
 * names and limits are ternd's to judge. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "jsonutil.h"
#include "memspec.h"
#include "print.h"
#include "size.h"
#include "util.h"
#include "vm_limits.h"

#define MIB (1024 * 1024)
#define CONSOLE_POLL_MS 300

static const struct {
	const char *verb;
	const char *done;
} vm_done_words[] = {
	{ "start", "started" }, { "stop", "stopped" },
	{ "pause", "paused" }, { "resume", "resumed" },
	{ "save", "saved" },
};

static int
vm_parse_cpus(const struct cli_args *a, json_t *body, struct err *err)
{
	const char *s = cli_args_get(a, "cpus");
	uint64_t n;
	int r;

	if (!s)
		return cli_usage(err, "missing option --cpus N");
	r = cli_parse_u64("--cpus", s, VM_CPUS_MIN, VM_CPUS_MAX, &n,
	    err);
	if (r < 0)
		return r;
	json_object_set_new(body, "cpus", json_integer(n));
	return 0;
}

/* --memory SIZE | MIN..MAX[,buffer=PCT] (base/memspec.h): memory_mib the
 * size or the maximum, and for a range the minimum and the buffer. */
static int
vm_parse_memory(const struct cli_args *a, json_t *body, struct err *err)
{
	const char *s = cli_args_get(a, "memory");
	struct memspec m;
	struct err e = { 0 };

	if (!s)
		return cli_usage(err, "missing option --memory SIZE "
		    "(or MIN..MAX[,buffer=PCT])");
	if (memspec_parse(s, &m, &e) < 0)
		return cli_usage(err, "%s", e.msg);
	json_object_set_new(body, "memory_mib", json_integer(m.max_mib));
	if (memspec_dynamic(&m)) {
		json_object_set_new(body, "memory_min_mib",
		    json_integer(m.min_mib));
		json_object_set_new(body, "memory_buffer_pct",
		    json_integer(m.buffer_pct));
	}
	return 0;
}

/* --disk SIZE[@POOL]: a new image of SIZE in POOL (ternd's first pool when
 * POOL is not given). */
static int
vm_disk_new(const char *spec, json_t *disks, struct err *err)
{
	_cleanup_free_ char *size = xstrdup(spec);
	_cleanup_json_ json_t *disk = json_object();
	char *pool = strchr(size, '@');
	struct err e = { 0 };
	uint64_t bytes;

	if (pool)
		*pool++ = '\0';
	if (pool && !*pool)
		return cli_usage(err, "invalid --disk '%s': no pool after '@'",
		    spec);
	if (size_parse(size, &bytes, &e) < 0)
		return cli_usage(err, "--disk: %s", e.msg);
	json_object_set_new(disk, "size_bytes", json_integer(bytes));
	if (pool && cli_json_set_str(disk, "pool", pool, err) < 0)
		return CLI_EUSAGE;
	json_array_append(disks, disk);
	return 0;
}

/* One "key=value" of --net SWITCH[,vlan=ID][,trunk=ID-ID,...][,mac=MAC];
 * a bare item after trunk= continues its list.  ternd checks the values
 * (net/vlan.c); here only the shape. */
static int
vm_net_item(json_t *nic, const char *item, char *trunks, size_t len,
    bool *in_trunk, struct err *err)
{
	const char *eq = strchr(item, '=');
	char *end;
	long v;

	if (!eq && *in_trunk) {
		snprintf(trunks + strlen(trunks), len - strlen(trunks), ",%s",
		    item);
		return 0;
	}
	*in_trunk = eq && strncmp(item, "trunk=", 6) == 0;
	if (*in_trunk) {
		snprintf(trunks + strlen(trunks), len - strlen(trunks), "%s%s",
		    *trunks ? "," : "", eq + 1);
		return 0;
	}
	if (eq && strncmp(item, "mac=", 4) == 0)
		return cli_json_set_str(nic, "mac", eq + 1, err) < 0 ?
		    CLI_EUSAGE : 0;
	if (!eq || strncmp(item, "vlan=", 5) != 0)
		return cli_usage(err, "--net: unknown setting '%.40s': give "
		    "SWITCH[,vlan=ID][,trunk=ID-ID,...][,mac=MAC]", item);
	errno = 0;
	v = strtol(eq + 1, &end, 10);
	if (!eq[1] || *end || errno || v < 0 || v > 65535)
		return cli_usage(err, "--net: vlan '%.20s' is not a VLAN ID "
		    "from 1 to 4094", eq + 1);
	json_object_set_new(nic, "vlan", json_integer(v));
	return 0;
}

static int
vm_net_new(const char *value, json_t *nics, struct err *err)
{
	_cleanup_json_ json_t *nic = json_object();
	_cleanup_free_ char *copy = xstrdup(value);
	char trunks[512] = "", *save = NULL;
	char *item = strtok_r(copy, ",", &save);
	bool in_trunk = false;
	int r = 0;

	if (!item || cli_json_set_str(nic, "switch", item, err) < 0)
		return cli_usage(err, "--net needs a switch name");
	while (r == 0 && (item = strtok_r(NULL, ",", &save)))
		r = vm_net_item(nic, item, trunks, sizeof(trunks), &in_trunk,
		    err);
	if (r == 0 && *trunks)
		r = cli_json_set_str(nic, "trunks", trunks, err) < 0 ?
		    CLI_EUSAGE : 0;
	if (r == 0)
		json_array_append(nics, nic);
	return r;
}

int
cli_net_parse(const char *value, json_t **ret_nic, struct err *err)
{
	_cleanup_json_ json_t *one = json_array();
	int r = vm_net_new(value, one, err);

	if (r < 0)
		return r;
	*ret_nic = json_incref(json_array_get(one, 0));
	return 0;
}

/* Disks and NICs in command-line order, which names them vda, vdb... */
static int
vm_parse_devices(struct cli *cli, const struct cli_args *a, json_t *body,
    struct err *err)
{
	_cleanup_json_ json_t *disks = json_array(), *nics = json_array();
	int r = 0;

	for (int i = 0; i < a->nopt && r == 0; i++) {
		const struct cli_arg *o = &a->opt[i];
		_cleanup_json_ json_t *dev = json_object();
		_cleanup_free_ char *path = NULL;

		if (streq(o->name, "disk")) {
			r = vm_disk_new(o->value, disks, err);
		} else if (streq(o->name, "disk-path")) {
			path = cli_file_arg(cli, o->value);
			r = cli_json_set_str(dev, "path", path, err);
			json_array_append(disks, dev);
		} else if (streq(o->name, "net")) {
			r = vm_net_new(o->value, nics, err);
		}
	}
	if (json_array_size(disks) > 0)
		json_object_set(body, "disks", disks);
	if (json_array_size(nics) > 0)
		json_object_set(body, "nics", nics);
	return r;
}

static int
vm_parse_boot(struct cli *cli, const struct cli_args *a, json_t *body,
    struct err *err)
{
	const char *kernel = cli_args_get(a, "kernel");
	const char *initrd = cli_args_get(a, "initrd");
	const char *cmdline = cli_args_get(a, "cmdline");
	_cleanup_free_ char *k = NULL, *i = NULL;
	int r = 0;

	if ((initrd || cmdline) && !kernel)
		return cli_usage(err, "--%s needs --kernel",
		    initrd ? "initrd" : "cmdline");
	if (kernel) {
		k = cli_file_arg(cli, kernel);
		r = cli_json_set_str(body, "kernel", k, err);
	}
	if (r == 0 && initrd) {
		i = cli_file_arg(cli, initrd);
		r = cli_json_set_str(body, "initrd", i, err);
	}
	if (r == 0 && cmdline)
		r = cli_json_set_str(body, "cmdline", cmdline, err);
	if (r == 0 && cli_args_get(a, "machine"))
		r = cli_json_set_str(body, "machine",
		    cli_args_get(a, "machine"), err);
	if (r == 0 && cli_args_get(a, "hotplug-ports")) {
		uint64_t n;

		r = cli_parse_u64("--hotplug-ports", cli_args_get(a,
		    "hotplug-ports"), 0, VM_HOTPLUG_PORTS_MAX, &n, err);
		if (r == 0)
			json_object_set_new(body, "hotplug_ports",
			    json_integer((json_int_t)n));
	}
	return r;
}

/* --boot cdrom,disk as ["cdrom", "disk"] (ternd checks the names). */
static int
vm_parse_boot_order(const char *order, json_t *body, struct err *err)
{
	_cleanup_free_ char *copy = xstrdup(order);
	json_t *a = json_array();
	char *save = NULL;

	json_object_set_new(body, "boot", a);
	for (char *t = strtok_r(copy, ",", &save); t;
	    t = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(t));
	if (json_array_size(a) == 0)
		return cli_usage(err, "--boot needs a list such as cdrom,disk");
	return 0;
}

/* --firmware, --secure-boot, --tpm, --boot, --cdrom, --cloud-init,
 * --ssh-key: files as absolute paths, checked by ternd; --cloud-init-net
 * as text, checked by ternd (src/vm/altip_parse.c). */
static int
vm_parse_guest(struct cli *cli, const struct cli_args *a, json_t *body,
    struct err *err)
{
	static const char *const files[][2] = { { "cloud-init", "cloud_init" },
		{ "ssh-key", "ssh_key" } };
	const char *cd = cli_args_get(a, "cdrom");
	_cleanup_json_ json_t *net = json_array();
	int r = 0;

	if (cli_args_get(a, "firmware"))
		r = cli_json_set_str(body, "firmware",
		    cli_args_get(a, "firmware"), err);
	if (cli_args_get(a, "secure-boot"))
		json_object_set_new(body, "secure_boot", json_true());
	if (cli_args_get(a, "tpm"))
		json_object_set_new(body, "tpm", json_true());
	if (r == 0 && cli_args_get(a, "boot"))
		r = vm_parse_boot_order(cli_args_get(a, "boot"), body, err);
	if (r == 0 && cd) {
		_cleanup_free_ char *p = streq(cd, "none") ? xstrdup(cd) :
		    cli_file_arg(cli, cd);

		r = cli_json_set_str(body, "cdrom", p, err);
	}
	for (int i = 0; i < a->nopt; i++)
		if (streq(a->opt[i].name, "cloud-init-net"))
			json_array_append_new(net,
			    json_string(a->opt[i].value));
	if (json_array_size(net))
		json_object_set(body, "cloud_init_net", net);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = NULL;

		if (!cli_args_get(a, files[i][0]))
			continue;
		p = cli_file_arg(cli, cli_args_get(a, files[i][0]));
		r = cli_json_set_str(body, files[i][1], p, err);
	}
	return r;
}

/* The POST /v1/vms body for "vm create"; usage errors only. */
static int
vm_create_body(struct cli *cli, const struct cli_args *a, json_t **ret_body,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object();
	int r;

	r = cli_json_set_str(body, "name", a->pos[0], err);
	if (r == 0)
		r = vm_parse_cpus(a, body, err);
	if (r == 0)
		r = vm_parse_memory(a, body, err);
	if (r == 0)
		r = vm_parse_devices(cli, a, body, err);
	if (r == 0)
		r = vm_parse_boot(cli, a, body, err);
	if (r == 0)
		r = vm_parse_guest(cli, a, body, err);
	if (r < 0)
		return r;
	json_object_set_new(body, "cpu_compat",
	    json_boolean(cli_args_get(a, "cpu-compat") != NULL));
	*ret_body = TAKE_PTR(body);
	return 0;
}

/* The end of a waited-for "vm create": with --json {"vm", "job"}, the VM
 * read again now that its job is over (null when it failed). */
static int
vm_create_done(struct cli *cli, const char *name, const json_t *job,
    struct err *err)
{
	_cleanup_json_ json_t *vm = NULL, *out = NULL;
	_cleanup_free_ char *path = NULL;
	int r = cli_job_check(job, err);

	if (!cli->json) {
		if (r == 0)
			printf("vm '%s' created\n", name);
		return r;
	}
	if (r == 0) {
		path = cli_path(cli, "/v1/vms/", name, NULL);
		r = http_call(cli->http, "GET", path, NULL, &vm, err);
	}
	out = json_pack("{s:O?, s:O}", "vm", vm, "job", job);
	print_json(out);
	return r;
}

int
cmd_vm_create(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_json_ json_t *body = NULL, *answer = NULL, *job = NULL;
	int r;

	r = vm_create_body(cli, a, &body, err);
	if (r == 0)
		r = http_call(cli->http, "POST", "/v1/vms", body, &answer, err);
	if (r < 0)
		return r;
	if (cli->no_wait)
		return cli_job_print_started(cli, answer, err);
	r = cli_job_wait(cli, json_object_get(answer, "job"), &job, err);
	if (r < 0)
		return r;
	return vm_create_done(cli, a->pos[0], job, err);
}

int
cli_run_job(struct cli *cli, const char *method, const char *path,
    const json_t *body, const char *done, struct err *err)
{
	_cleanup_json_ json_t *answer = NULL, *job = NULL;
	int r;

	r = http_call(cli->http, method, path, body, &answer, err);
	if (r < 0)
		return r;
	if (!json_object_get(answer, "job")) {	/* done at once (200) */
		if (cli->json)
			print_json(answer);
		else
			printf("%s\n", done);
		return 0;
	}
	if (cli->no_wait)
		return cli_job_print_started(cli, answer, err);
	r = cli_job_wait(cli, json_object_get(answer, "job"), &job, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(job);
	r = cli_job_check(job, err);
	if (r == 0 && !cli->json)
		printf("%s\n", done);
	return r;
}

int
cli_vm_job(struct cli *cli, const char *method, const char *path,
    const json_t *body, const char *name, const char *done, struct err *err)
{
	_cleanup_free_ char *line = xasprintf("vm '%s' %s", name, done);

	return cli_run_job(cli, method, path, body, line, err);
}

int
cmd_vm_action(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *verb = cli->cmd->verb, *done = verb;
	_cleanup_free_ char *suffix = xasprintf("/%s", verb);
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    suffix);

	for (size_t i = 0; i < ARRAY_SIZE(vm_done_words); i++)
		if (streq(vm_done_words[i].verb, verb))
			done = vm_done_words[i].done;
	return cli_vm_job(cli, "POST", path, NULL, a->pos[0], done, err);
}

int
cmd_vm_delete(struct cli *cli, const struct cli_args *a, struct err *err)
{
	bool keep = cli_args_get(a, "keep-disks") != NULL;
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    keep ? "?keep_disks=1" : NULL);

	return cli_vm_job(cli, "DELETE", path, NULL, a->pos[0],
	    keep ? "deleted; its disks were kept" : "deleted", err);
}

int
cmd_vm_list(struct cli *cli, const struct cli_args *a, struct err *err)
{
	static const char *const head[] = {
		"NAME", "STATE", "CPUS", "MEMORY", "DISKS", "UUID"
	};
	_cleanup_json_ json_t *answer = NULL;
	struct table *t;
	json_t *vm;
	size_t i;
	int r;

	if (cli_args_get(a, "cluster"))
		return cmd_vm_list_cluster(cli, err);
	r = http_call(cli->http, "GET", "/v1/vms", NULL, &answer, err);
	if (r < 0)
		return r;
	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(ARRAY_SIZE(head), head);
	json_array_foreach(json_object_get(answer, "vms"), i, vm) {
		char cpus[24], mem[32], disks[24];
		long long mib = 0;

		(void)jv_int(vm, "memory_mib", &mib);
		snprintf(disks, sizeof(disks), "%zu",
		    json_array_size(json_object_get(vm, "disks")));
		table_row(t, (const char *[]){ jv_str(vm, "name"),
		    jv_str(vm, "state"),
		    jv_text(vm, "cpus", cpus, sizeof(cpus)),
		    fmt_mib(mib, mem, sizeof(mem)), disks,
		    jv_str(vm, "uuid") });
	}
	table_print(t, stdout);
	table_free(t);
	return 0;
}

/* "disk", or "kernel K, initrd I, cmdline 'C'". */
static const char *
vm_boot_text(const json_t *vm, char *buf, size_t len)
{
	const char *kernel = jv_str(vm, "kernel");
	const char *initrd = jv_str(vm, "initrd");
	const char *cmdline = jv_str(vm, "cmdline");

	if (!kernel)
		return "disk";
	snprintf(buf, len, "kernel %s%s%s%s%s%s", kernel,
	    initrd ? ", initrd " : "", initrd ? initrd : "",
	    cmdline ? ", cmdline '" : "", cmdline ? cmdline : "",
	    cmdline ? "'" : "");
	return buf;
}

/* What the guest agent reports, and services switched off. */
static void
vm_print_guest(struct table *t, const json_t *vm)
{
	const json_t *g = json_object_get(vm, "guest");
	const json_t *nic, *ip, *svc = json_object_get(vm, "services");
	const char *name;
	json_t *on;
	char off[128] = "";
	size_t i, j;

	table_kv(t, "heartbeat", "%s", jv_str(g, "heartbeat") ?: "absent");
	if (jv_str(g, "hostname"))
		table_kv(t, "guest name", "%s", jv_str(g, "hostname"));
	if (jv_str(json_object_get(g, "os"), "pretty_name"))
		table_kv(t, "guest os", "%s",
		    jv_str(json_object_get(g, "os"), "pretty_name"));
	json_array_foreach(json_object_get(g, "addresses"), i, nic)
		json_array_foreach(json_object_get(nic, "ips"), j, ip)
			table_kv(t, "guest address", "%s %s",
			    jv_str(nic, "nic") ?: "?", json_string_value(ip));
	json_object_foreach((json_t *)svc, name, on)
		if (json_is_false(on) && strlen(off) + strlen(name) + 3 <
		    sizeof(off))
			snprintf(off + strlen(off), sizeof(off) - strlen(off),
			    "%s%s", off[0] ? ", " : "", name);
	if (off[0])
		table_kv(t, "services off", "%s", off);
}

/* UEFI, the TPM, the CD drives and the boot order, where the VM has
 * them (issue 17's settings). */
/* --cloud-init-net's static addresses: "nic1  10.1.2.3/24 gw 10.1.2.1". */
static void
vm_show_ci_net(struct table *t, const json_t *net)
{
	const char *nic;
	json_t *c;
	bool first = true;

	json_object_foreach((json_t *)net, nic, c) {
		table_kv(t, first ? "cloud-init net" : "", "%s  %s/%lld%s%s",
		    nic, jv_str(c, "addr") ?: "?", (long long)
		    json_integer_value(json_object_get(c, "prefix")),
		    jv_str(c, "gw") ? " gw " : "", jv_str(c, "gw") ?: "");
		first = false;
	}
}

static void
vm_print_guest_hw(struct table *t, const json_t *vm)
{
	const json_t *boot = json_object_get(vm, "boot"), *v;
	char order[128] = "";
	size_t i;

	if (streq(jv_str(vm, "firmware") ?: "bios", "uefi"))
		table_kv(t, "firmware", "uefi%s, variables %s",
		    json_is_true(json_object_get(vm, "secure_boot")) ?
		    " with secure boot" : "", jv_str(vm, "nvram") ?: "-");
	if (json_is_true(json_object_get(vm, "tpm")))
		table_kv(t, "tpm", "2.0 (swtpm), state %s",
		    jv_str(vm, "tpm_dir") ?: "-");
	if (json_is_true(json_object_get(vm, "cd_drive")))
		table_kv(t, "cd drive", "%s", jv_str(vm, "cdrom") ?: "empty");
	if (jv_str(vm, "cloud_init_seed"))
		table_kv(t, "cloud-init", "%s", jv_str(vm, "cloud_init_seed"));
	vm_show_ci_net(t, json_object_get(vm, "cloud_init_net"));
	json_array_foreach(boot, i, v)
		if (json_is_string(v) && strlen(order) + 16 < sizeof(order))
			snprintf(order + strlen(order), sizeof(order) -
			    strlen(order), "%s%s", i ? "," : "",
			    json_string_value(v));
	if (json_array_size(boot) > 1 || strstr(order, "cdrom") ||
	    strstr(order, "network"))
		table_kv(t, "boot order", "%s", order);
}

/* "256 MiB", or for dynamic memory "412 MiB now (256 MiB..768 MiB,
 * buffer 20 %, guest demand 330 MiB)". */
static const char *
vm_memory_text(const json_t *vm, char *buf, size_t len)
{
	const json_t *d = json_object_get(vm, "dynamic_memory");
	char a[32], b[32], c[32], e[32] = "not known";
	long long mib = 0, min = 0, cur = 0, pct = 0, dem = 0;

	(void)jv_int(vm, "memory_mib", &mib);
	if (!json_is_object(d)) {
		snprintf(buf, len, "%s", fmt_mib(mib, a, sizeof(a)));
		return buf;
	}
	(void)jv_int(d, "minimum_mib", &min);
	(void)jv_int(d, "current_mib", &cur);
	(void)jv_int(d, "buffer_pct", &pct);
	if (jv_int(d, "demand_mib", &dem) && dem > 0)
		(void)fmt_mib(dem, e, sizeof(e));
	snprintf(buf, len, "%s now (%s..%s, buffer %lld %%, guest demand %s)",
	    fmt_mib(cur, a, sizeof(a)), fmt_mib(min, b, sizeof(b)),
	    fmt_mib(mib, c, sizeof(c)), pct, e);
	return buf;
}

static void
vm_print_main(const json_t *vm)
{
	struct table *t = table_new(2, NULL);
	char b[64], boot[1024];

	table_kv(t, "name", "%s", jv_text(vm, "name", b, sizeof(b)));
	table_kv(t, "uuid", "%s", jv_text(vm, "uuid", b, sizeof(b)));
	table_kv(t, "state", "%s", jv_text(vm, "state", b, sizeof(b)));
	table_kv(t, "host", "%s", jv_text(vm, "host", b, sizeof(b)));
	table_kv(t, "cpus", "%s", jv_text(vm, "cpus", b, sizeof(b)));
	table_kv(t, "memory", "%s", vm_memory_text(vm, boot, sizeof(boot)));
	table_kv(t, "machine", "%s", jv_text(vm, "machine", b, sizeof(b)));
	table_kv(t, "cpu model", "%s%s", jv_text(vm, "cpu_model", b,
	    sizeof(b)), json_is_true(json_object_get(vm, "cpu_compat")) ?
	    " (compatibility baseline)" : "");
	table_kv(t, "boot", "%s", vm_boot_text(vm, boot, sizeof(boot)));
	vm_print_guest_hw(t, vm);
	table_kv(t, "pid", "%s", jv_text(vm, "pid", b, sizeof(b)));
	table_kv(t, "created", "%s", jv_text(vm, "created_at", b, sizeof(b)));
	table_kv(t, "started", "%s", jv_text(vm, "started_at", b, sizeof(b)));
	if (jv_str(vm, "saved_state"))
		table_kv(t, "saved state", "%s", jv_str(vm, "saved_state"));
	vm_print_guest(t, vm);
	table_print(t, stdout);
	table_free(t);
}

static const char *
size_text(const json_t *o, const char *key, char *buf, size_t len)
{
	long long v;

	if (!jv_int(o, key, &v) || v < 0)
		return "-";
	return size_format(v, buf, len);
}

/* The NICs; VLAN and TRUNKS columns only when some NIC has VLANs. */
static struct table *
vm_nic_table(const json_t *nics)
{
	static const char *const nhead[] = { "NIC", "MAC", "SWITCH", "VLAN",
	    "TRUNKS" };
	bool vlans = false;
	struct table *t;
	size_t i;
	json_t *d;

	json_array_foreach(nics, i, d) {
		const char *tr = jv_str(d, "trunks");

		vlans |= json_integer_value(json_object_get(d, "vlan")) > 0 ||
		    (tr && *tr);
	}
	t = table_new(vlans ? 5 : 3, nhead);
	json_array_foreach(nics, i, d) {
		json_int_t v = json_integer_value(json_object_get(d, "vlan"));
		const char *tr = jv_str(d, "trunks");
		char vl[8] = "-";

		if (v > 0)
			snprintf(vl, sizeof(vl), "%d", (int)v);
		table_row(t, (const char *[]){ jv_str(d, "name"),
		    jv_str(d, "mac"), jv_str(d, "switch"), vl,
		    tr && *tr ? tr : "-" });
	}
	return t;
}

static void
vm_print_devices(const json_t *vm)
{
	static const char *const dhead[] = {
		"NAME", "POOL", "VIRTUAL", "ALLOCATED", "PATH"
	};
	json_t *disks = json_object_get(vm, "disks");
	json_t *nics = json_object_get(vm, "nics");
	struct table *t;
	json_t *d;
	size_t i;

	t = table_new(ARRAY_SIZE(dhead), dhead);
	json_array_foreach(disks, i, d) {
		char v[32], al[32];

		table_row(t, (const char *[]){ jv_str(d, "name"),
		    jv_str(d, "pool"), size_text(d, "virtual_size", v,
		    sizeof(v)), size_text(d, "allocated", al, sizeof(al)),
		    jv_str(d, "path") });
	}
	printf("\n");
	if (json_array_size(disks) > 0)
		table_print(t, stdout);
	else
		printf("no disks\n");
	t = table_free(t);
	t = vm_nic_table(nics);
	printf("\n");
	if (json_array_size(nics) > 0)
		table_print(t, stdout);
	else
		printf("no NICs\n");
	table_free(t);
}

int
cmd_vm_show(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0], NULL);
	_cleanup_json_ json_t *vm = NULL;
	int r;

	r = http_call(cli->http, "GET", path, NULL, &vm, err);
	if (r < 0)
		return r;
	if (cli->json) {
		print_json(vm);
		return 0;
	}
	vm_print_main(vm);
	vm_print_devices(vm);
	return 0;
}

/* Where "vm console" is in the log; with --json and no --follow, the text
 * read so far. */
struct console {
	char *path;		/* ".../console?offset=" */
	long long offset;
	char *data;
	size_t len;
};

/* Read one page at c->offset and show it; *ret_len is its length. */
static int
console_page(struct cli *cli, struct console *c, bool follow,
    size_t *ret_len, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s%lld", c->path, c->offset);
	_cleanup_json_ json_t *page = NULL;
	json_t *data;
	long long next;
	size_t len;
	int r;

	r = http_call(cli->http, "GET", path, NULL, &page, err);
	if (r < 0)
		return r;
	data = json_object_get(page, "data");
	len = json_string_length(data);
	if (!json_is_string(data) || !jv_int(page, "offset", &next) ||
	    (len > 0 && next <= c->offset))
		return err_set(err, -EPROTO, "malformed console answer from "
		    "ternd");
	if (len > 0 && cli->json && follow) {
		print_json_line(page);
	} else if (len > 0 && cli->json) {
		c->data = xrealloc(c->data, c->len + len);
		memcpy(c->data + c->len, json_string_value(data), len);
		c->len += len;
	} else if (len > 0) {
		fwrite(json_string_value(data), 1, len, stdout);
		fflush(stdout);
	}
	c->offset = next;
	*ret_len = len;
	return 0;
}

/* Pages until one is empty; with follow, then every 300 ms until SIGINT,
 * which ends it without an error. */
static int
console_run(struct cli *cli, struct console *c, bool follow,
    struct err *err)
{
	struct err e = { 0 };
	size_t len = 0;
	int r;

	for (;;) {
		r = console_page(cli, c, follow, &len, &e);
		if (r < 0)
			break;
		if (len > 0)
			continue;
		if (!follow || !cli_sleep_ms(CONSOLE_POLL_MS))
			return 0;
	}
	if (follow && cli_interrupted)
		return 0;
	return err_set(err, r, "%s", e.msg);
}

int
cmd_vm_console(struct cli *cli, const struct cli_args *a, struct err *err)
{
	bool follow = cli_args_get(a, "follow") != NULL;
	struct console c = {
		.path = cli_path(cli, "/v1/vms/", a->pos[0],
		    "/console?offset="),
	};
	_cleanup_json_ json_t *out = NULL;
	struct sigaction old;
	int r;

	if (follow)
		cli_sigint_catch(&old);
	r = console_run(cli, &c, follow, err);
	if (follow)
		cli_sigint_restore(&old);
	if (r == 0 && cli->json && !follow) {
		out = json_pack("{s:I, s:s%}", "offset", (json_int_t)c.offset,
		    "data", c.data ? c.data : "", c.len);
		print_json(out);
	}
	free(c.path);
	free(c.data);
	return r;
}
