/* host.h - the daemon's world as the vm module sees it: configuration,
 * the loop, the store, the VMs and the jobs of this host.  One per ternd.
 * Owned by daemon/main.c; everything here runs on the loop thread. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "job.h"
#include "loop.h"
#include "store.h"

struct vm;
struct job;
struct peer_client;
struct cluster;

struct host_config {
	char *name;		/* host name, shown everywhere */
	char *state_dir;	/* ternd.db, tls/, vms/UUID/ (console logs) */
	char *run_dir;		/* ternd.sock, vms/UUID/ (QEMU sockets) */
	char *listen;		/* "ADDR:PORT" for HTTPS, NULL: none */
	char *qemu_binary;	/* default qemu-system-x86_64 */
	char *qemu_img;		/* default qemu-img */
	char *blockcopy;	/* default tern-blockcopy next to ternd */
	char *replica_apply;	/* default tern-replica-apply next to ternd */
	/* no good replication cycle for this long: critical (1800 s) */
	uint64_t replica_critical_after_ms;
	/* the window of the "20 % of cycles bad" warning (3600 s) */
	uint64_t replica_window_ms;
	char **pools;		/* "NAME=DIR" from config and flags */
	size_t n_pools;
	uint64_t stop_timeout_ms;	/* graceful quit before SIGKILL */
	char *qemu_user;	/* "auto", "root" or a user name */
	char *on_host_shutdown;	/* "keep" (default), "save" or "shutdown" */
	/* Live migration (src/migrate). */
	char *migration_address;	/* incoming streams listen here; NULL:
					 * the address the source reached */
	bool migration_plain;	/* migration-encryption off */
	int max_migrations;	/* outgoing at once; 0: auto */
	uint64_t migration_timeout_ms;	/* give up on a move after this */
	uint64_t max_downtime_ms;	/* the most escalation may allow */
	uint64_t replica_point_period_ms; /* a recovery point's "hour" */
	uint64_t migration_bw;	/* bytes/s cap per move; 0: from the link */
	uint64_t memory_reserve_mib;	/* kept for the host, never admitted */
	enum { MIG_MEMORY_AUTO, MIG_MEMORY_LIVE, MIG_MEMORY_PAUSED }
	    migration_memory;	/* how a running VM's memory is copied */
	/* Storage moves (src/storage). */
	int max_storage_migrations;	/* disk moves at once, the rest queue */
	/* The cluster (src/cluster). */
	char *cluster_dir;	/* corosync.conf, authkey (/etc/corosync) */
	char *cluster_address;	/* Corosync ring address; NULL: listen's */
	char *cluster_start;	/* shell commands: start, reload, stop */
	char *cluster_reload;
	char *cluster_stop;
	char *maintenance_dir;	/* the commands maintain may run here */
	/* GET /metrics: a bearer token read from this file at start
	 * (config.c refuses a world-readable one); NULL: certificates only */
	char *metrics_token_file;
	char *metrics_token;
	char *www_dir;		/* the web console's files
				 * (/usr/share/tern/www) */
	char *swtpm;		/* the swtpm binary (default swtpm) */
	char *ovmf_dir;		/* OVMF_CODE_4M.fd...(/usr/share/OVMF) */
	char **iso_dirs;	/* where a VM's ISOs may be, besides pools */
	size_t n_iso_dirs;
};

struct host {
	struct host_config cfg;
	struct loop *loop;
	struct store *store;
	char uuid[37];
	char fingerprint[80];	/* "sha256:HEX" of this host's key */
	bool kvm;		/* /dev/kvm usable */
	bool cpu_aes;		/* the CPU has AES instructions (AES-NI) */
	uid_t qemu_uid;		/* QEMU drops to this user (0: stays root) */
	gid_t qemu_gid;
	char qemu_version[32];	/* as QEMU prints it, "10.0.2" */
	int qemu_major, qemu_minor;	/* 10, 0 */
	char **machines;	/* versioned q35 types QEMU offers, newest
				 * first: "pc-q35-10.0", ... */
	size_t n_machines;
	struct vm **vms;	/* sorted by nothing; a handful to hundreds */
	size_t n_vms;
	struct job_table jobs;	/* types, active jobs, slots (src/job) */
	bool quitting;
	struct loop_timer *metrics_timer;	/* vm_metrics.c's poll */
	struct peer_client *peers;	/* HTTPS calls to other hosts */
	struct cluster *cluster;	/* src/cluster's state (opaque here) */
	/* vm.start calls it once QEMU is up and before the vCPUs first run
	 * (src/track looks at the disks' change tracking then): 0 go on,
	 * 1 wait (the hook pokes the job when done).  NULL: none. */
	int (*before_cont)(struct vm *vm, struct job *job);
	/* src/cluster (NULL: none): 0 when this host may start vm now, else
	 * -errno with err saying why (this node lost the cluster's quorum). */
	int (*may_start)(const struct vm *vm, struct err *err);
	/* src/cluster (NULL: none): true when vm is the cluster's stale
	 * copy here, its files (shared disks, replication spool) those of
	 * the VM another node runs: a delete keeps them. */
	bool (*vm_stale)(const struct vm *vm);
	/* src/replica (NULL: none): a VM's replication as a move's wire
	 * description carries it (NULL: not replicated; maps false: its
	 * "maps" empty, as the cluster's state holds it); recorded here
	 * once a move committed here; dropped (with its spool unless
	 * spool_shared) when the VM left this host or is deleted. */
	json_t *(*repl_carry)(const struct vm *vm, bool maps);
	void (*repl_arrived)(struct vm *vm, const json_t *carried);
	void (*repl_leaving)(struct vm *vm, bool deleted, bool spool_shared);
	/* src/cluster (NULL: none): vm.start's lease on the VM's disks
	 * (sanlock, src/cluster/lease.c).  HOST_LEASE_TAKE before QEMU is
	 * launched, HOST_LEASE_BIND once it runs paused (vm->pid) and
	 * before its vCPUs first run, HOST_LEASE_DROP when the start
	 * failed (err may be NULL).  0 go on (also: no lease needed), 1
	 * wait (the hook pokes or wakes the job), <0 refuse (err set).
	 * HOST_LEASE_HELD (job, err NULL): 1 when the VM needs a lease
	 * here, so its running QEMU holds one.  A live move (src/migrate)
	 * hands it over: HOST_LEASE_RELEASE on the source once its QEMU is
	 * paused for good (0 released, 1 wait, <0 it stays held), then
	 * HOST_LEASE_BIND on the destination for its paused QEMU before
	 * `cont` (and on the source again, should the move roll back).
	 * HOST_LEASE_CHECK (job NULL; vm may be a row not yet added): 0
	 * when the VM needs no lease here or its lease can be taken here,
	 * else -EAGAIN with err (a move to here is refused up front). */
	int (*vm_lease)(struct vm *vm, struct job *job, int step,
	    struct err *err);
	/* src/migrate (NULL: none): start a live move of vm to peer `to`
	 * (vm.move), for src/cluster's failback. */
	int (*move_vm)(struct host *h, struct vm *vm, const char *to,
	    struct err *err);
	/* Observers (NULL: none; src/api's live streams), called on the
	 * loop: an event was recorded (its id in the store), a VM's state
	 * changed.  They may read, never change what they are given. */
	void (*on_event)(struct host *h, int64_t event_id, void *data);
	void (*on_vm_change)(const struct vm *vm, void *data);
	void *watch_data;
};

enum { HOST_LEASE_TAKE, HOST_LEASE_BIND, HOST_LEASE_DROP, HOST_LEASE_HELD,
	HOST_LEASE_RELEASE, HOST_LEASE_CHECK };

/* Record an event (persisted, logged at info or above) about vm (may be
 * NULL) and job (0: none). */
void host_event(struct host *h, const char *severity, const struct vm *vm,
    int64_t job_id, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define HOST_QEMU_USER "tern-qemu"	/* the user "auto" picks if it exists */

/* Probe the machine: KVM, QEMU version, the QEMU user.  Fills h->kvm,
 * h->qemu_version and h->qemu_uid/gid.  Blocking (runs QEMU once); call at
 * start-up only.  -ENOENT (err set) when a named qemu-user does not
 * exist. */
int host_probe(struct host *h, struct err *err);

/* The oldest QEMU tern drives; older ones are refused at start. */
#define HOST_QEMU_MIN_MAJOR 7
#define HOST_QEMU_MIN_MINOR 2

/* This host's QEMU is at least major.minor. */
bool host_qemu_at_least(const struct host *h, int major, int minor);

/* Parse "10.0.2" (or "7.2.22", "9.1") into major and minor; -EINVAL when
 * it does not start with two numbers. */
int host_parse_qemu_version(const char *s, int *ret_major, int *ret_minor);

/* The machine types of `qemu -machine help` output (one per line): the
 * versioned "pc-q35-X.Y" ones, newest first, in *ret (caller frees with
 * strv_free).  Returns how many. */
size_t host_parse_machines(const char *help, char ***ret);

/* QEMU offers machine type name. */
bool host_has_machine(const struct host *h, const char *name);

/* A machine type name is safe on QEMU's command line: 1-63 of
 * [A-Za-z0-9._-], not starting with '-'. */
bool host_machine_name_ok(const char *name);

/* -ENOTSUP with err naming what to do when this host's QEMU does not offer
 * machine type name (what names it and for which VM: what). */
int host_check_machine(const struct host *h, const char *name,
    const char *what, struct err *err);

/* The machine type a new VM gets: the newest versioned q35. */
const char *host_default_machine(const struct host *h);

/* The name of the user QEMU runs as ("root" when it stays root). */
const char *host_qemu_user_name(const struct host *h);

/* Memory facts from /proc/meminfo, in MiB. */
int host_memory_mib(uint64_t *ret_total, uint64_t *ret_available);

/* Which memory a VM must fit in: the host's installed memory (to define
 * one: create, import) or what is available now less what is promised to
 * VMs arriving (state incoming) (to run one: start, a move's arrival). */
enum host_mem_basis {
	HOST_MEM_INSTALLED,
	HOST_MEM_AVAILABLE,
	HOST_MEM_BASIS__COUNT
};

/* The one free-memory check: 0 when memory_mib fits basis, else -ENOMEM
 * with a message naming what ("vm 'x'"), its need and what the host has
 * ("memory N MiB is more than this host has", "not enough memory to start
 * vm 'x'").  The host's memory-reserve is taken off both.
 * When /proc/meminfo cannot be read, admits (ternd must not refuse every
 * VM because of a missing file; QEMU fails cleanly if memory is short). */
int host_mem_admit(struct host *h, uint64_t memory_mib,
    enum host_mem_basis basis, const char *what, struct err *err);

/* A VM's row admitted against basis: installed, its maximum; available,
 * its current size (fixed memory: both its memory), and for dynamic
 * memory its maximum against installed memory too.  The message of a
 * dynamic VM's refusal names its current size and its maximum. */
int host_mem_admit_vm(struct host *h, const struct vm_row *row,
    enum host_mem_basis basis, struct err *err);

/* What the host admits now beyond its VMs (available less promised less
 * the reserve), in MiB: the room dynamic memory may grow into. */
uint64_t host_mem_room(struct host *h);

/* host_peer.c: a peer host as this host knows it (its STORE_PEER row).
 * By name (-ENOENT with a message) or by certificate fingerprint. */
struct host_peer {
	char *name, *url, *fp;
};
int host_peer_by_name(struct host *h, const char *name,
    struct host_peer *ret, struct err *err);
int host_peer_by_fp(struct host *h, const char *fp, struct host_peer *ret);
void host_peer_done(struct host_peer *p);
/* Fill p from a STORE_PEER row (copies); empty it with host_peer_done. */
void host_peer_from_row(struct host_peer *p, const struct obj_row *o);
/* "10.1.0.2" of "https://10.1.0.2:7443" (caller frees); NULL if none. */
char *host_peer_url_host(const char *url);
/* The measured rate of the link to peer in bytes/s, 0 when unknown, and
 * its age (UINT64_MAX when unknown); host_link_record stores a new one. */
uint64_t host_link_rate(struct host *h, const char *peer,
    uint64_t *ret_age_ms);
void host_link_record(struct host *h, const char *peer, uint64_t bytes_per_s);
/* vm_metrics.c: the tern_peer_link_rate_bytes_per_second sample. */
void host_link_metric(const char *peer, uint64_t bytes_per_s);

/* The API's host object. */
json_t *host_to_json(struct host *h);

/* ternd is asked to stop: apply on-host-shutdown to every VM whose QEMU
 * runs (save: save it; shutdown: shut the guest down, forced after 60 s,
 * and save a paused one; keep: nothing).  Returns the number of jobs
 * started; the daemon waits for them before it exits. */
size_t host_stop_vms(struct host *h);

/* Pool lookups against the store: path of pool NAME (caller frees), or
 * the pool whose directory holds path (caller frees the name). */
char *host_pool_path(struct host *h, const char *name);
char *host_pool_of_path(struct host *h, const char *path);

/* A switch of that name is recorded. */
bool host_switch_exists(struct host *h, const char *name);
/* True when the switch was made --isolated (the switches row's b). */
bool host_switch_isolated(struct host *h, const char *name);
/* ternd's start: every isolated switch's nftables entry made again
 * (idempotent; a host's tables are gone after a reboot), whether or not
 * its bridge exists yet; a failure is logged, the start goes on. */
void host_switches_isolate(struct host *h);
/* 0 when nic i's VLANs (if any) can be carried by its switch here. */
int host_switch_carries(struct host *h, const struct nic_row *n, size_t i,
    struct err *err);
/* vswitch.c: switch name's row into ret (the caller frees its strings):
 * 0, -ENOENT or -errno. */
int host_switch_get(struct host *h, const char *name, struct obj_row *ret);
/* At start: every switch with uplinks gets its bridge and its uplinks
 * again (idempotent); a failure is logged and the rest go on. */
void host_switches_apply(struct host *h);
/* What `switch show` answers for row o: bridge, uplinks, bond, ports. */
json_t *host_switch_json(struct host *h, const struct obj_row *o);
/* After a move: for each NIC of vm with trunks on a switch with an
 * uplink, one 802.1Q-tagged RARP per trunk VLAN out of the uplink (QEMU's
 * announce-self reaches the access VLAN only).  Logs what it did. */
void host_switch_announce(struct host *h, const struct vm *vm);

/* The identity of the storage behind a pool directory: a UUID kept in
 * DIR/.tern-pool, created on first use.  Two hosts mount the same storage
 * when they read the same identity (names prove nothing).  -EINVAL when
 * the marker is damaged. */
#define POOL_MARKER ".tern-pool"
int host_pool_identity(const char *dir, char ret[37]);
