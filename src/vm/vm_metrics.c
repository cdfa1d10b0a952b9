/* vm_metrics.c - the VM samples of /metrics (src/base/metrics.h): each
 * VM's state as it changes, and, polled every VM_METRICS_POLL_MS on the
 * loop, what QEMU's process and QMP say of a running VM (vCPU time, RSS,
 * query-blockstats per disk, sent async) and the guest heartbeat.  A
 * scrape only renders; this must never block the loop (no QMP waits, only
 * /proc reads) and a removed VM's samples go with it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "metrics.h"
#include "util.h"
#include "vm.h"

#define VM_METRICS_QMP_TIMEOUT_MS 5000	/* < the poll: one in flight */

static const struct { const char *name; enum metric_type type;
    const char *help; } vm_fams[] = {
	{ "tern_vms", METRIC_GAUGE, "VMs on this host by state." },
	{ "tern_vm_state", METRIC_GAUGE, "1 for each VM, labelled with its "
	    "state." },
	{ "tern_vm_memory_bytes", METRIC_GAUGE, "A VM's configured memory." },
	{ "tern_vm_cpus", METRIC_GAUGE, "A VM's configured vCPUs." },
	{ "tern_vm_cpu_seconds_total", METRIC_COUNTER, "CPU time of a "
	    "running VM's QEMU process (user + system), from /proc." },
	{ "tern_vm_memory_rss_bytes", METRIC_GAUGE, "Resident memory of a "
	    "running VM's QEMU process." },
	{ "tern_vm_disk_read_bytes_total", METRIC_COUNTER, "Bytes the "
	    "guest read from a disk (QEMU query-blockstats)." },
	{ "tern_vm_disk_written_bytes_total", METRIC_COUNTER, "Bytes the "
	    "guest wrote to a disk (QEMU query-blockstats)." },
	{ "tern_vm_disk_read_ops_total", METRIC_COUNTER, "Read requests "
	    "of a disk (QEMU query-blockstats)." },
	{ "tern_vm_disk_write_ops_total", METRIC_COUNTER, "Write requests "
	    "of a disk (QEMU query-blockstats)." },
	{ "tern_vm_guest_up", METRIC_GAUGE, "1 while the guest agent "
	    "answers its heartbeat, 0 otherwise (running VMs)." },
	{ "tern_vm_guest_last_answer_seconds", METRIC_GAUGE, "Seconds since "
	    "the guest agent last answered (running VMs whose agent ever "
	    "answered)." },
	{ "tern_peer_link_rate_bytes_per_second", METRIC_GAUGE, "The "
	    "measured rate of the link to a peer host." },
};

void
vm_metrics_init(void)
{
	struct metrics *m = metrics_default();

	for (size_t i = 0; i < ARRAY_SIZE(vm_fams); i++)
		metrics_declare(m, vm_fams[i].name, vm_fams[i].type,
		    vm_fams[i].help);
	/* every state shows, 0 included, in the enum's order */
	for (int s = 0; s < VM__COUNT; s++)
		metrics_add(m, "tern_vms", (const char *const[]){ "state",
		    vm_state_name(s), NULL }, 0);
}

/* The samples a VM has whether it runs or not. */
static void
vm_metrics_config(const struct vm *vm)
{
	struct metrics *m = metrics_default();
	const char *const l[] = { "vm", vm->row->name, NULL };

	metrics_set(m, "tern_vm_state", (const char *const[]){ "vm",
	    vm->row->name, "state", vm_state_name(vm->state), NULL }, 1);
	metrics_set(m, "tern_vm_memory_bytes", l,
	    (int64_t)vm->row->memory_mib << 20);
	metrics_set(m, "tern_vm_cpus", l, vm->row->cpus);
}

void
vm_metrics_state(const struct vm *vm, int old, int s)
{
	struct metrics *m = metrics_default();

	vm_metrics_init();
	if (old >= 0) {
		metrics_add(m, "tern_vms", (const char *const[]){ "state",
		    vm_state_name(old), NULL }, -1);
		metrics_remove(m, "tern_vm_state", (const char *const[]){
		    "vm", vm->row->name, "state", vm_state_name(old), NULL });
	}
	if (s < 0) {
		metrics_drop(m, "vm", vm->row->name);
		return;
	}
	metrics_add(m, "tern_vms", (const char *const[]){ "state",
	    vm_state_name(s), NULL }, 1);
	/* QEMU gone: its process and disk samples go, the VM's stay */
	if (old >= 0 && vm->pid == 0 && vm_is_down(vm))
		metrics_drop(m, "vm", vm->row->name);
	vm_metrics_config(vm);
}

/* The first line of /proc/PID/FILE into buf; -errno when gone. */
static int
proc_line(pid_t pid, const char *file, char *buf, int len)
{
	char path[64];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	ok = fgets(buf, len, f) != NULL;
	fclose(f);
	return ok ? 0 : -ESRCH;
}

/* utime + stime (ticks) and RSS (pages) of pid; -errno when gone. */
static int
proc_usage(pid_t pid, uint64_t *ret_ticks, uint64_t *ret_pages)
{
	char buf[1024];
	unsigned long long ut, st, size, rss;
	const char *p;

	if (!(p = child_proc_stat(pid, buf, sizeof(buf))))
		return -ESRCH;
	/* from state (field 3): utime is field 14, stime 15 */
	if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &ut, &st) != 2 ||
	    proc_line(pid, "statm", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%llu %llu", &size, &rss) != 2)
		return -ESRCH;
	*ret_ticks = ut + st;
	*ret_pages = rss;
	return 0;
}

/* The disk's name in a query-blockstats entry: the device id tern gave
 * it (qdev "/machine/peripheral/vda/virtio-backend"), else the node. */
static const char *
blockstats_disk(json_t *e, char *buf, size_t len)
{
	const char *qdev = json_string_value(json_object_get(e, "qdev"));
	const char *pre = "/machine/peripheral/";
	size_t n;

	if (qdev && strncmp(qdev, pre, strlen(pre)) == 0) {
		qdev += strlen(pre);
		n = strcspn(qdev, "/");
		if (n > 0 && n < len) {
			memcpy(buf, qdev, n);
			buf[n] = '\0';
			return buf;
		}
	}
	return json_string_value(json_object_get(e, "node-name"));
}

static void
vm_on_blockstats(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	static const char *const keys[][2] = {
		{ "rd_bytes", "tern_vm_disk_read_bytes_total" },
		{ "wr_bytes", "tern_vm_disk_written_bytes_total" },
		{ "rd_operations", "tern_vm_disk_read_ops_total" },
		{ "wr_operations", "tern_vm_disk_write_ops_total" },
	};
	struct metrics *m = metrics_default();
	json_t *entry;
	size_t i;

	(void)job;
	(void)e;		/* a refusal: the samples wait for the next */
	if (!json_is_array(ret) || vm->pid == 0)
		return;
	json_array_foreach(ret, i, entry) {
		json_t *stats = json_object_get(entry, "stats");
		char buf[32];
		const char *disk = blockstats_disk(entry, buf, sizeof(buf));

		if (!disk || !*disk || !json_is_object(stats))
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			metrics_setf(m, keys[k][1], (const char *const[]){
			    "vm", vm->row->name, "disk", disk, NULL },
			    (double)json_integer_value(json_object_get(stats,
			    keys[k][0])));
	}
}

static void
vm_metrics_poll(struct vm *vm, uint64_t now, long hz, long page)
{
	struct metrics *m = metrics_default();
	const char *const l[] = { "vm", vm->row->name, NULL };
	uint64_t ticks, pages;

	vm_metrics_config(vm);
	if (vm->pid == 0 || proc_usage(vm->pid, &ticks, &pages) < 0)
		return;
	metrics_setf(m, "tern_vm_cpu_seconds_total", l, (double)ticks / hz);
	metrics_set(m, "tern_vm_memory_rss_bytes", l,
	    (int64_t)(pages * (uint64_t)page));
	metrics_set(m, "tern_vm_guest_up", l, vm->agent.beat == AGENT_OK);
	if (vm->agent.last_answer_ms)
		metrics_setf(m, "tern_vm_guest_last_answer_seconds", l,
		    (double)(now - vm->agent.last_answer_ms) / 1000);
	if (vm->qmp_ready)
		(void)vm_qmp(vm, NULL, "query-blockstats", NULL,
		    VM_METRICS_QMP_TIMEOUT_MS, vm_on_blockstats);
}

static void
vm_metrics_tick(struct loop *l, void *data)
{
	struct host *h = data;
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	uint64_t now = now_ms();

	for (size_t i = 0; i < h->n_vms; i++)
		vm_metrics_poll(h->vms[i], now, hz > 0 ? hz : 100,
		    page > 0 ? page : 4096);
	h->metrics_timer = loop_timer_add(l, VM_METRICS_POLL_MS,
	    vm_metrics_tick, h);
}

void
vm_metrics_start(struct host *h)
{
	struct obj_row *rows;
	size_t n;

	vm_metrics_init();
	if (store_obj_list(h->store, STORE_PEER, &rows, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			uint64_t rate = host_link_rate(h, rows[i].name, NULL);

			if (rate)
				host_link_metric(rows[i].name, rate);
		}
		obj_rows_free(rows, n);
	}
	h->metrics_timer = loop_timer_add(h->loop, 0, vm_metrics_tick, h);
}

void
host_link_metric(const char *peer, uint64_t bytes_per_s)
{
	vm_metrics_init();
	metrics_set(metrics_default(), "tern_peer_link_rate_bytes_per_second",
	    (const char *const[]){ "peer", peer, NULL },
	    (int64_t)bytes_per_s);
}
