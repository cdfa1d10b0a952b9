/* config.c - ternd configuration from file and flags.  Never logs: errors
 * go back to main() through err. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "util.h"

#define DEFAULT_CONFIG "/etc/tern/ternd.conf"
#define MAX_CONFIG (256 * 1024)

static const char usage[] =
"Usage: ternd [OPTIONS]\n"
"The tern host daemon: runs this host's VMs, jobs and API.\n\n"
"  --config FILE      settings file (default " DEFAULT_CONFIG ")\n"
"  --name NAME        host name (default: the system host name)\n"
"  --state-dir DIR    state: database, TLS identity, console logs,\n"
"                     imported boot files (default /var/lib/tern)\n"
"  --run-dir DIR      runtime: API socket DIR/ternd.sock, QEMU sockets\n"
"                     (default /run/tern)\n"
"  --listen ADDR:PORT HTTPS API with mutual TLS (default: none)\n"
"  --pool NAME=DIR    a storage pool (repeatable)\n"
"  --qemu PATH        QEMU binary (default qemu-system-x86_64)\n"
"  --qemu-img PATH    qemu-img binary (default qemu-img)\n"
"  --qemu-user USER   user QEMU drops to: auto (" HOST_QEMU_USER " if it\n"
"                     exists, else root), root, or a name (default auto)\n"
"  --stop-timeout S   seconds a VM may take to quit before SIGKILL (10)\n"
"  --replica-critical-after-s S\n"
"                     a replicated VM with no good cycle for S seconds is\n"
"                     critical and its cycles wait for resume (1800)\n"
"  --replica-monitor-window-s S\n"
"                     warning when more than 20 %% of a replicated VM's\n"
"                     cycles in the last S seconds failed (3600)\n"
"  --on-host-shutdown keep|save|shutdown|drain\n"
"                     what SIGTERM does to running VMs: leave them running\n"
"                     (default), save them, shut the guests down, or (a\n"
"                     cluster node) drain the node first: its VMs move\n"
"                     live to the others and it stays paused\n"
"  --migration-address ADDR\n"
"                     address incoming live migrations listen on\n"
"                     (default: the address the source host reached)\n"
"  --migration-encryption on|off\n"
"                     TLS on migration streams (default on; off only\n"
"                     on a trusted migration network)\n"
"  --max-migrations N|auto\n"
"                     outgoing live migrations at once, the rest queue\n"
"                     (default 2; auto: from the measured link)\n"
"  --migration-timeout S\n"
"                     a move that has not finished after S seconds is\n"
"                     cancelled and the VM stays (default 600)\n"
"  --max-downtime MS  the largest downtime limit convergence escalation\n"
"                     may set (default 2000)\n"
"  --memory-reserve MIB\n"
"                     memory kept for the host: VMs are admitted only to\n"
"                     what is available beyond it (default 0)\n"
"  --migration-bandwidth MIB\n"
"                     cap each move's stream at MIB MiB/s (default 0:\n"
"                     from the measured link)\n"
"  --cluster-dir DIR  where corosync.conf and the authkey are written\n"
"                     (default /etc/corosync)\n"
"  --cluster-address ADDR\n"
"                     this node's Corosync ring address (default: the\n"
"                     address of --listen)\n"
"  --cluster-start CMD, --cluster-reload CMD, --cluster-stop CMD\n"
"                     shell commands that start, reload and stop Corosync\n"
"                     and, for a cluster with a witness (corosync.conf has\n"
"                     a quorum device), corosync-qdevice (defaults:\n"
"                     systemctl restart corosync, then corosync-qdevice\n"
"                     too if corosync.conf names a device;\n"
"                     corosync-cfgtool -R; systemctl stop corosync-qdevice\n"
"                     corosync), run with TERN_CLUSTER_DIR set to\n"
"                     --cluster-dir\n"
"  --maintenance-dir DIR\n"
"                     the commands `tern cluster maintain --run NAME` may\n"
"                     run on this node: executable files in DIR, by name\n"
"                     (default /etc/tern/maintenance.d)\n"
"  --migration-memory auto|live|paused\n"
"                     copy a running VM's memory live, or with the VM\n"
"                     paused (downtime: the whole copy); auto (default):\n"
"                     paused under TCG with QEMU before 9.0, which loses\n"
"                     guest writes during a live copy there\n"
"  --max-storage-migrations N\n"
"                     storage moves (vm move-storage) at once, the rest\n"
"                     queue (default 2)\n"
"  --metrics-token-file FILE\n"
"                     GET /metrics also answers 'Authorization: Bearer\n"
"                     TOKEN' with the token in FILE (one line, 16 to 512\n"
"                     characters; FILE must not be readable by others);\n"
"                     the token grants /metrics only (default: none,\n"
"                     trusted client certificates only)\n"
"  --www-dir DIR      the web console's files, served on --listen to\n"
"                     browsers, who log in with PAM (service 'tern')\n"
"                     (default /usr/share/tern/www)\n"
"  --swtpm PATH       swtpm binary for VMs with a TPM (default swtpm)\n"
"  --ovmf-dir DIR     UEFI firmware: OVMF_CODE_4M.fd, OVMF_VARS_4M.fd and\n"
"                     their Secure Boot builds (default /usr/share/OVMF)\n"
"  --iso-dir DIR      a directory VMs' ISOs may come from, besides the\n"
"                     pools (repeatable)\n"
"  --foreground       stay in the foreground, log to stderr (as\n"
"                     structured journald entries when stderr is the\n"
"                     journal, as under ternd.service)\n"
"  --debug            log debug messages\n"
"  --help, --version\n\n"
"The file takes the same long names without dashes, one 'key = value'\n"
"per line ('#' starts a comment); flags override it.  More: man ternd,\n"
"man ternd.conf.\n";

static void
set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
}

/* v, a whole number from min to max, into *n; -EINVAL otherwise. */
static int
config_long(const char *v, long min, long max, long *n)
{
	char *end;

	errno = 0;
	*n = strtol(v, &end, 10);
	return *v && !*end && !errno && *n >= min && *n <= max ? 0 : -EINVAL;
}

/* The migration settings (config_set); 1 when key is none of them. */
static int
config_set_migration(struct host_config *c, const char *key, const char *v,
    struct err *err)
{
	long n;

	if (streq(key, "migration-address")) {
		if (!*v || strpbrk(v, " ,/[]") || strlen(v) > 64)
			return err_set(err, -EINVAL, "migration-address '%.64s' "
			    "must be an IPv4 address or host name", v);
		set_str(&c->migration_address, v);
	} else if (streq(key, "migration-encryption")) {
		if (!streq(v, "on") && !streq(v, "off"))
			return err_set(err, -EINVAL, "migration-encryption "
			    "'%.64s' must be on or off", v);
		c->migration_plain = streq(v, "off");
	} else if (streq(key, "max-migrations")) {
		if (streq(v, "auto"))
			n = 0;
		else if (config_long(v, 1, 64, &n) < 0)
			return err_set(err, -EINVAL, "max-migrations '%.64s' "
			    "must be 1 to 64 or auto", v);
		c->max_migrations = (int)n;
	} else if (streq(key, "migration-memory")) {
		if (!streq(v, "auto") && !streq(v, "live") &&
		    !streq(v, "paused"))
			return err_set(err, -EINVAL, "migration-memory '%.64s' "
			    "must be auto, live or paused", v);
		c->migration_memory = streq(v, "live") ? MIG_MEMORY_LIVE :
		    streq(v, "paused") ? MIG_MEMORY_PAUSED : MIG_MEMORY_AUTO;
	} else if (streq(key, "max-storage-migrations")) {
		if (config_long(v, 1, 64, &n) < 0)
			return err_set(err, -EINVAL, "max-storage-migrations "
			    "'%.64s' must be 1 to 64", v);
		c->max_storage_migrations = (int)n;
	} else if (streq(key, "memory-reserve")) {
		if (config_long(v, 0, 1 << 30, &n) < 0)
			return err_set(err, -EINVAL, "memory-reserve '%.64s' "
			    "must be 0 to 1073741824 MiB", v);
		c->memory_reserve_mib = (uint64_t)n;
	} else if (streq(key, "migration-bandwidth")) {
		if (config_long(v, 0, 1000000, &n) < 0)
			return err_set(err, -EINVAL, "migration-bandwidth "
			    "'%.64s' must be 0 (from the link) to 1000000 MiB/s",
			    v);
		c->migration_bw = (uint64_t)n << 20;
	} else if (streq(key, "migration-timeout")) {
		if (config_long(v, 5, 86400, &n) < 0)
			return err_set(err, -EINVAL, "migration-timeout '%.64s' "
			    "must be 5 to 86400 seconds", v);
		c->migration_timeout_ms = (uint64_t)n * 1000;
	} else if (streq(key, "max-downtime")) {
		if (config_long(v, 100, 600000, &n) < 0)
			return err_set(err, -EINVAL, "max-downtime '%.64s' must "
			    "be 100 to 600000 ms", v);
		c->max_downtime_ms = (uint64_t)n;
	} else if (streq(key, "replica-point-period-s")) {
		/* The "hour" of recovery points; shorter for tests only. */
		if (config_long(v, 1, 86400, &n) < 0)
			return err_set(err, -EINVAL, "replica-point-period-s "
			    "'%.64s' must be 1 to 86400 seconds (3600: hourly)",
			    v);
		c->replica_point_period_ms = (uint64_t)n * 1000;
	} else {
		return 1;
	}
	return 0;
}

/* append v to a list of settings given more than once */
static void
config_append(char ***list, size_t *n, const char *v)
{
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = xstrdup(v);
}

/* The settings that name directories and may repeat: 0 set, 1 not one of
 * them, < 0 refused. */
static int
config_set_dirs(struct host_config *c, const char *key, const char *v,
    struct err *err)
{
	if (streq(key, "pool")) {
		const char *eq = strchr(v, '=');

		if (!eq || eq == v || eq[1] != '/')
			return err_set(err, -EINVAL, "pool '%s' must be "
			    "NAME=/absolute/dir", v);
		config_append(&c->pools, &c->n_pools, v);
		return 0;
	}
	if (streq(key, "iso-dir")) {
		if (v[0] != '/')
			return err_set(err, -EINVAL, "iso-dir '%.64s' must be "
			    "an absolute directory", v);
		config_append(&c->iso_dirs, &c->n_iso_dirs, v);
		return 0;
	}
	return 1;
}

static int
config_set(struct daemon_opts *o, const char *key, const char *v,
    struct err *err)
{
	struct host_config *c = &o->cfg;
	const struct { const char *key; char **slot; } strs[] = {
		{ "name", &c->name }, { "state-dir", &c->state_dir },
		{ "run-dir", &c->run_dir }, { "listen", &c->listen },
		{ "qemu", &c->qemu_binary }, { "qemu-img", &c->qemu_img },
		{ "blockcopy", &c->blockcopy },
		{ "replica-apply", &c->replica_apply },
		{ "qemu-user", &c->qemu_user },
		{ "cluster-dir", &c->cluster_dir },
		{ "cluster-start", &c->cluster_start },
		{ "cluster-reload", &c->cluster_reload },
		{ "cluster-stop", &c->cluster_stop },
		{ "maintenance-dir", &c->maintenance_dir },
		{ "metrics-token-file", &c->metrics_token_file },
		{ "www-dir", &c->www_dir }, { "swtpm", &c->swtpm },
		{ "ovmf-dir", &c->ovmf_dir },
	};
	long n;
	int r;

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (streq(key, strs[i].key)) {
			set_str(strs[i].slot, v);
			return 0;
		}
	if (streq(key, "cluster-address")) {
		unsigned char a[16];

		if (inet_pton(AF_INET, v, a) != 1 &&
		    inet_pton(AF_INET6, v, a) != 1)
			return err_set(err, -EINVAL, "cluster-address '%.64s' "
			    "must be an IPv4 or IPv6 address", v);
		set_str(&c->cluster_address, v);
		return 0;
	}
	if (streq(key, "on-host-shutdown")) {
		if (!streq(v, "keep") && !streq(v, "save") &&
		    !streq(v, "shutdown") && !streq(v, "drain"))
			return err_set(err, -EINVAL, "on-host-shutdown '%s' "
			    "must be keep, save, shutdown or drain", v);
		set_str(&c->on_host_shutdown, v);
	} else if (streq(key, "stop-timeout")) {
		if (config_long(v, 1, 3600, &n) < 0)
			return err_set(err, -EINVAL, "stop-timeout '%s' must "
			    "be 1 to 3600 seconds", v);
		c->stop_timeout_ms = (uint64_t)n * 1000;
	} else if ((r = config_set_dirs(c, key, v, err)) != 1) {
		return r;
	} else if (streq(key, "replica-critical-after-s")) {
		if (config_long(v, 10, 86400, &n) < 0)
			return err_set(err, -EINVAL, "replica-critical-after-s "
			    "'%.64s' must be 10 to 86400 seconds", v);
		c->replica_critical_after_ms = (uint64_t)n * 1000;
	} else if (streq(key, "replica-monitor-window-s")) {
		if (config_long(v, 60, 604800, &n) < 0)
			return err_set(err, -EINVAL, "replica-monitor-window-s "
			    "'%.64s' must be 60 to 604800 seconds", v);
		c->replica_window_ms = (uint64_t)n * 1000;
	} else if ((r = config_set_migration(c, key, v, err)) != 1) {
		return r;
	} else {
		return err_set(err, -EINVAL, "unknown setting '%.64s'", key);
	}
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && strchr(" \t\r\n", e[-1]))
		*--e = '\0';
	return s;
}

int
config_parse_text(const char *text, const char *origin,
    struct daemon_opts *o, struct err *err)
{
	_cleanup_free_ char *copy = xstrdup(text);
	char *save = NULL;
	int lineno = 0, r;

	for (char *line = strtok_r(copy, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char *eq, *hash = strchr(line, '#');

		lineno++;
		if (hash)
			*hash = '\0';
		line = trim(line);
		if (!*line)
			continue;
		eq = strchr(line, '=');
		if (!eq)
			return err_set(err, -EINVAL, "%s:%d: expected 'key = "
			    "value'", origin, lineno);
		*eq = '\0';
		struct err e = { 0 };

		r = config_set(o, trim(line), trim(eq + 1), &e);
		if (r < 0)
			return err_set(err, r, "%s:%d: %s", origin, lineno,
			    e.msg);
	}
	return 0;
}

static void
config_defaults(struct daemon_opts *o)
{
	struct host_config *c = &o->cfg;
	char host[256] = "localhost";

	if (!c->name) {
		(void)gethostname(host, sizeof(host) - 1);
		c->name = xstrdup(host);
	}
	if (!c->state_dir)
		c->state_dir = xstrdup("/var/lib/tern");
	if (!c->run_dir)
		c->run_dir = xstrdup("/run/tern");
	if (!c->qemu_binary)
		c->qemu_binary = xstrdup("qemu-system-x86_64");
	if (!c->qemu_img)
		c->qemu_img = xstrdup("qemu-img");
	if (!c->cluster_dir)
		c->cluster_dir = xstrdup("/etc/corosync");
	if (!c->maintenance_dir)
		c->maintenance_dir = xstrdup("/etc/tern/maintenance.d");
	if (!c->cluster_start)
		c->cluster_start = xstrdup("systemctl restart corosync && "
		    "if grep -qs 'model: net' \"$TERN_CLUSTER_DIR/"
		    "corosync.conf\"; then systemctl restart "
		    "corosync-qdevice; fi");
	if (!c->cluster_reload)
		c->cluster_reload = xstrdup("corosync-cfgtool -R");
	if (!c->cluster_stop)
		c->cluster_stop = xstrdup("systemctl stop corosync-qdevice "
		    "corosync");
	if (!c->www_dir)
		c->www_dir = xstrdup("/usr/share/tern/www");
	if (!c->swtpm)
		c->swtpm = xstrdup("swtpm");
	if (!c->ovmf_dir)
		c->ovmf_dir = xstrdup("/usr/share/OVMF");
	if (!c->blockcopy)
		c->blockcopy = helper_exe_path("tern-blockcopy");
	if (!c->replica_apply)
		c->replica_apply = helper_exe_path("tern-replica-apply");
	if (!c->stop_timeout_ms)
		c->stop_timeout_ms = 10000;
	if (!c->replica_critical_after_ms)
		c->replica_critical_after_ms = 1800 * 1000;
	if (!c->replica_window_ms)
		c->replica_window_ms = 3600 * 1000;
	if (c->max_migrations < 0)
		c->max_migrations = 2;
	if (!c->migration_timeout_ms)
		c->migration_timeout_ms = 600 * 1000;
	if (!c->max_downtime_ms)
		c->max_downtime_ms = 2000;
	if (!c->replica_point_period_ms)
		c->replica_point_period_ms = 3600ULL * 1000;
	if (!c->max_storage_migrations)
		c->max_storage_migrations = 2;
}

static int
config_file(const char *path, bool must_exist, struct daemon_opts *o,
    struct err *err)
{
	_cleanup_free_ char *text = NULL;
	int r = file_read_all(path, MAX_CONFIG, &text, NULL);

	if (r == -ENOENT && !must_exist)
		return 0;
	if (r < 0)
		return err_setf_errno(err, r, "cannot read config '%s'", path);
	return config_parse_text(text, path, o, err);
}

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "name", required_argument, NULL, 1 },
	{ "state-dir", required_argument, NULL, 1 },
	{ "run-dir", required_argument, NULL, 1 },
	{ "listen", required_argument, NULL, 1 },
	{ "pool", required_argument, NULL, 1 },
	{ "qemu", required_argument, NULL, 1 },
	{ "qemu-img", required_argument, NULL, 1 },
	{ "qemu-user", required_argument, NULL, 1 },
	{ "on-host-shutdown", required_argument, NULL, 1 },
	{ "stop-timeout", required_argument, NULL, 1 },
	{ "migration-address", required_argument, NULL, 1 },
	{ "migration-encryption", required_argument, NULL, 1 },
	{ "max-migrations", required_argument, NULL, 1 },
	{ "migration-timeout", required_argument, NULL, 1 },
	{ "max-downtime", required_argument, NULL, 1 },
	{ "migration-bandwidth", required_argument, NULL, 1 },
	{ "memory-reserve", required_argument, NULL, 1 },
	{ "max-storage-migrations", required_argument, NULL, 1 },
	{ "migration-memory", required_argument, NULL, 1 },
	{ "cluster-dir", required_argument, NULL, 1 },
	{ "maintenance-dir", required_argument, NULL, 1 },
	{ "metrics-token-file", required_argument, NULL, 1 },
	{ "www-dir", required_argument, NULL, 1 },
	{ "swtpm", required_argument, NULL, 1 },
	{ "ovmf-dir", required_argument, NULL, 1 },
	{ "iso-dir", required_argument, NULL, 1 },
	{ "cluster-address", required_argument, NULL, 1 },
	{ "cluster-start", required_argument, NULL, 1 },
	{ "cluster-reload", required_argument, NULL, 1 },
	{ "cluster-stop", required_argument, NULL, 1 },
	{ "replica-critical-after-s", required_argument, NULL, 1 },
	{ "replica-monitor-window-s", required_argument, NULL, 1 },
	{ "foreground", no_argument, NULL, 'f' },
	{ "debug", no_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 }
};

/* Read the scrape token from c->metrics_token_file: a file others cannot
 * read (the token would leak to every local user), one line of 16 to 512
 * printable characters without spaces. */
static int
config_metrics_token(struct host_config *c, struct err *err)
{
	const char *path = c->metrics_token_file;
	_cleanup_free_ char *text = NULL;
	struct stat st;
	size_t n;
	int r;

	if (stat(path, &st) == -1)
		return err_setf_errno(err, -errno, "cannot read "
		    "metrics-token-file '%s'", path);
	if (st.st_mode & S_IROTH)
		return err_set(err, -EPERM, "metrics-token-file '%s' is "
		    "readable by every user (mode %04o): chmod o-rwx it (0600 "
		    "or 0640) and start again", path,
		    (unsigned)(st.st_mode & 07777));
	r = file_read_all(path, 4096, &text, NULL);
	if (r < 0)
		return err_setf_errno(err, r, "cannot read "
		    "metrics-token-file '%s'", path);
	n = strcspn(text, "\r\n");
	text[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (text[i] <= ' ' || text[i] > '~')
			return err_set(err, -EINVAL, "metrics-token-file '%s': "
			    "the token must be printable ASCII without spaces",
			    path);
	if (n < 16 || n > 512)
		return err_set(err, -EINVAL, "metrics-token-file '%s': the "
		    "token on its first line must be 16 to 512 characters "
		    "(e.g. 'openssl rand -hex 32 > FILE')", path);
	c->metrics_token = TAKE_PTR(text);
	return 0;
}

static int
config_check(struct daemon_opts *o, struct err *err)
{
	struct host_config *c = &o->cfg;

	if (!name_is_valid(c->name))
		return err_set(err, -EINVAL, "invalid host name '%.64s'",
		    c->name);
	if (c->state_dir[0] != '/' || c->run_dir[0] != '/' ||
	    strpbrk(c->state_dir, ",\"\\:=") || strpbrk(c->run_dir, ",\"\\:="))
		return err_set(err, -EINVAL, "state-dir and run-dir must be "
		    "absolute paths free of , \" \\ : =");
	if (strlen(c->run_dir) > 40)
		return err_set(err, -ENAMETOOLONG, "run-dir '%s' is longer "
		    "than 40 characters: QEMU socket paths would not fit",
		    c->run_dir);
	if (c->metrics_token_file)
		return config_metrics_token(c, err);
	return 0;
}

int
config_load(int argc, char **argv, struct daemon_opts *o, struct err *err)
{
	const char *cfg = NULL;
	int c, idx, r;

	o->cfg.max_migrations = -1;	/* unset: config_defaults picks 2 */
	/* First pass: only --config, --help, --version. */
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		if (c == 'c')
			cfg = optarg;
		else if (c == 'h')
			return printf("%s", usage), 1;
		else if (c == 'V')
			return printf("ternd %s\n", TERN_VERSION), 1;
		else if (c == '?')
			return err_set(err, -EINVAL, "unknown or incomplete "
			    "option '%s' (see ternd --help)",
			    argv[optind - 1]);
	}
	if (optind < argc)
		return err_set(err, -EINVAL, "unexpected argument '%s'",
		    argv[optind]);
	r = config_file(cfg ? cfg : DEFAULT_CONFIG, cfg != NULL, o, err);
	optind = 1;
	while (r == 0 && (c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		if (c == 1)
			r = config_set(o, longopts[idx].name, optarg, err);
		else if (c == 'f')
			o->foreground = true;
		else if (c == 'd')
			o->debug = true;
	}
	if (r < 0)
		return r;
	config_defaults(o);
	return config_check(o, err);
}

void
config_done(struct daemon_opts *o)
{
	struct host_config *c = &o->cfg;

	for (size_t i = 0; i < c->n_pools; i++)
		free(c->pools[i]);
	free(c->pools);
	free(c->name);
	free(c->state_dir);
	free(c->run_dir);
	free(c->listen);
	free(c->qemu_binary);
	free(c->qemu_img);
	free(c->blockcopy);
	free(c->replica_apply);
	free(c->qemu_user);
	free(c->on_host_shutdown);
	free(c->migration_address);
	free(c->cluster_dir);
	free(c->maintenance_dir);
	free(c->metrics_token_file);
	if (c->metrics_token)
		explicit_bzero(c->metrics_token, strlen(c->metrics_token));
	free(c->metrics_token);
	free(c->www_dir);
	free(c->swtpm);
	free(c->ovmf_dir);
	for (size_t i = 0; i < c->n_iso_dirs; i++)
		free(c->iso_dirs[i]);
	free(c->iso_dirs);
	free(c->cluster_address);
	free(c->cluster_start);
	free(c->cluster_reload);
	free(c->cluster_stop);
}
