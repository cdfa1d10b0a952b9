/* qmp_block.h - the block commands tern sends QEMU, typed: each function
 * builds one command (its name and arguments) from C values, so that the
 * storage move, the shared-nothing move and (next) backup and replication
 * send the same command the same way; and the block queries' replies
 * (query-block, query-block-jobs) read into C values.  Pure: nothing is
 * sent here (vm_qmp_cmd() in src/vm sends one). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One command: its name and arguments (owned; NULL: none).  The sender
 * takes the reference. */
struct qmp_command {
	const char *name;
	json_t *args;
};

/* blockdev-add a qcow2 image at path: a file node under a format node,
 * opened as QEMU opens a VM's disk at start (threads, cached). */
struct qmp_command qmp_blockdev_add_qcow2(const char *fmt_node,
    const char *file_node, const char *path);
/* blockdev-add a raw file node at path (a UEFI VM's variables, opened as
 * qemu.c opens fw-vars). */
struct qmp_command qmp_blockdev_add_file(const char *node, const char *path);
/* blockdev-add an NBD client node for export on host:port, with the TLS
 * credentials object tls_creds (NULL: plain), never reconnecting. */
struct qmp_command qmp_blockdev_add_nbd(const char *node, const char *host,
    const char *port, const char *export, const char *tls_creds);
struct qmp_command qmp_blockdev_del(const char *node);

/* blockdev-mirror device into target (a node): a full copy in copy_mode
 * ("background" or "write-blocking"), kept after it ends (auto-dismiss
 * off) so its outcome can be read. */
struct qmp_command qmp_blockdev_mirror(const char *job_id, const char *device,
    const char *target, const char *copy_mode);
/* block-job-change: switch mirror id to copy_mode. */
struct qmp_command qmp_mirror_copy_mode(const char *id, const char *copy_mode);
/* block-job-set-speed (bytes/s, 0: unlimited). */
struct qmp_command qmp_block_job_set_speed(const char *device, int64_t speed);
/* block-job-cancel: a READY mirror ends cleanly (its target consistent). */
struct qmp_command qmp_block_job_cancel(const char *device);

/* The generic job commands: job-complete (a mirror pivots), job-cancel
 * (abandon it, whatever its state), job-dismiss (forget a concluded one). */
struct qmp_command qmp_job_complete(const char *id);
struct qmp_command qmp_job_cancel(const char *id);
struct qmp_command qmp_job_dismiss(const char *id);

/* NBD server of an incoming copy: serve on the listening socket passed
 * with getfd as fdname (tls_creds NULL: plain), export node writable under
 * name, stop. */
struct qmp_command qmp_nbd_server_start_fd(const char *fdname,
    const char *tls_creds);
struct qmp_command qmp_nbd_export_writable(const char *id, const char *node,
    const char *name);
struct qmp_command qmp_nbd_server_stop(void);

/* Dirty bitmaps (change tracking, src/track): add name on node
 * (persistent: stored in the qcow2; disabled: not recording), remove,
 * merge the bitmaps sources (names on node) into target. */
struct qmp_command qmp_bitmap_add(const char *node, const char *name,
    bool persistent, bool disabled);
struct qmp_command qmp_bitmap_remove(const char *node, const char *name);
/* A transaction of actions (an array of {type, data}, taken); the
 * actions below are its members, not commands of their own. */
struct qmp_command qmp_transaction(json_t *actions);
json_t *qmp_tx_bitmap_add(const char *node, const char *name,
    bool persistent, bool disabled);
json_t *qmp_tx_bitmap_merge(const char *node, const char *target,
    const char *source);
/* Merge src_name on src_node and also (a name on node) into target. */
json_t *qmp_tx_bitmap_merge_from(const char *node, const char *target,
    const char *src_node, const char *src_name, const char *also);
/* Fleecing: blockdev-backup sync=none from device into target (a qcow2
 * whose backing is device): target then reads as device did. */
json_t *qmp_tx_fleece(const char *job_id, const char *device,
    const char *target);
/* blockdev-add a qcow2 scratch image at path over backing (a node). */
struct qmp_command qmp_blockdev_add_overlay(const char *fmt_node,
    const char *file_node, const char *path, const char *backing);
/* blockdev-add a qcow2 image at path with no backing node yet (a
 * checkpoint's overlay, for qmp_tx_snapshot). */
struct qmp_command qmp_blockdev_add_top(const char *fmt_node,
    const char *file_node, const char *path);
/* Merge bitmap name of src_node into name on node. */
json_t *qmp_tx_bitmap_copy(const char *node, const char *name,
    const char *src_node);
/* blockdev-snapshot: overlay (added with no backing) goes on top of node
 * and takes its place; a transaction action. */
json_t *qmp_tx_snapshot(const char *node, const char *overlay);
/* block-commit top into base (both nodes under device's node); an active
 * commit (top the device's node) waits for job-complete. Not dismissed
 * by itself. */
struct qmp_command qmp_block_commit(const char *job_id, const char *device,
    const char *top, const char *base);
/* The qcow2 node whose file is path in query-named-block-nodes' reply
 * (flat), or NULL. */
const char *qmp_node_of_file(const json_t *ret, const char *path);

/* A read-only NBD export of node under name with bitmap (a disabled
 * bitmap on or under node; NULL: none), its removal. */
struct qmp_command qmp_nbd_export_readonly(const char *id, const char *node,
    const char *name, const char *bitmap);
struct qmp_command qmp_block_export_del(const char *id);

/* The queries (arguments none, or flat for the named nodes). */
struct qmp_command qmp_query_block(void);
struct qmp_command qmp_query_block_jobs(void);
struct qmp_command qmp_query_named_block_nodes(void);
struct qmp_command qmp_query_jobs(void);
struct qmp_command qmp_query_block_exports(void);

/* One entry of query-block-jobs' reply (strings borrowed from it). */
struct qmp_block_job {
	const char *device;	/* the job's id */
	uint64_t offset, len;	/* bytes copied, bytes to copy */
	bool ready;		/* READY: in sync once */
	bool synced;		/* actively-synced: write-blocking and in sync */
};

/* Read query-block-jobs' reply into at most max entries (entries without
 * a device are skipped); the count, or -EINVAL when ret is no array. */
int qmp_block_jobs_read(const json_t *ret, struct qmp_block_job *out,
    size_t max);

/* From query-block's reply: the node of VM disk disk (its device's qdev
 * path holds "/disk/"), and its file (ret_file, may be NULL); NULL when
 * no such disk has a medium. */
const char *qmp_block_disk_node(const json_t *ret, const char *disk,
    const char **ret_file);

/* One dirty bitmap of a node in query-named-block-nodes' reply (name
 * borrowed from it). */
struct qmp_bitmap {
	const char *name;
	uint64_t count;		/* dirty bytes */
	bool recording, busy, persistent, inconsistent;
};

/* The bitmaps of node, at most max; how many there are. */
size_t qmp_node_bitmap_list(const json_t *ret, const char *node,
    struct qmp_bitmap *out, size_t max);

/* From query-named-block-nodes' reply: how many dirty bitmaps node has,
 * and the first one's name (ret_first, may be NULL; NULL when none). */
size_t qmp_node_bitmaps(const json_t *ret, const char *node,
    const char **ret_first);
