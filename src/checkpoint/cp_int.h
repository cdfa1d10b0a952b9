/* cp_int.h - what the checkpoint jobs' files share; not for other
 * modules. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "batch.h"
#include "job.h"
#include "store.h"
#include "vm.h"

#define CP_QMP_MS 10000
#define CP_POLL_MS 200
#define CP_FREEZE_MS 10000	/* the guest is thawed after this anyway */
#define CP_NAME_MAX 40

/* In memory only: the QMP replies a step waits for. */
struct cp_ctx {
	struct vm_batch b;	/* first: the replies find it (batch.h) */
	unsigned sub;		/* a step's own progress */
	json_t *blocks;		/* cp_query_nodes: query-block's answer */
};

struct cp_ctx *cp_ctx(struct job *job);
void cp_ctx_free(struct job *job);
/* Send c for job, counted in pending; the first error kept. */
int cp_qmp(struct job *job, struct qmp_command c);
/* Send c, its answer ignored. */
void cp_qmp_quiet(struct job *job, struct qmp_command c);
/* query-block, then query-named-block-nodes (sub 0 to 3): 1 while they
 * are out, 0 once both are in (c->blocks, c->reply), -1 if one failed. */
int cp_query_nodes(struct job *job);
/* After a restart: 1 while QEMU runs but its QMP is not back yet (the VM
 * pokes its jobs when it is), -1 when QEMU is gone, 0 when ready. */
int cp_qmp_back(struct job *job);
/* Every reply in (true) and none an error (*failed false). */
bool cp_replied(struct job *job);
void cp_next(struct job *job, unsigned phase);
/* Run argv (a qemu-img) for job; fn on its exit.  Logs into the VM's
 * checkpoint.log. */
int cp_spawn(struct job *job, const char *const *argv,
    void (*fn)(struct child *ch, int status, void *data));

/* fn(job, arg) in one store transaction: all of it or none. */
int cp_store_tx(struct job *job, int (*fn)(struct job *job, void *arg),
    void *arg);
/* qemu-img create: disk d's overlay at d.new backed by d[backing];
 * fn on its exit. */
int cp_make_overlay(struct job *job, const json_t *d, const char *backing,
    void (*fn)(struct child *ch, int status, void *data));
/* The nth (complete reference point, disk of the job's details) pair:
 * the disk into *ret_d and the bitmap's name into bm; false past the
 * last. */
bool cp_nth_bitmap(struct job *job, size_t nth, json_t **ret_d,
    char *bm);

const char *cp_str(const json_t *o, const char *key);
json_t *cp_disks(const struct job *job);

/* The VM's checkpoints. */
struct cp_tree {
	struct checkpoint_row *rows;
	size_t n;
};
int cp_tree_load(struct vm *vm, struct cp_tree *t);
void cp_tree_free(struct cp_tree *t);
struct checkpoint_row *cp_tree_find(struct cp_tree *t, const char *name);
struct checkpoint_row *cp_tree_current(struct cp_tree *t);
/* The frozen image of disk in r (caller frees), or NULL. */
char *cp_image(const struct checkpoint_row *r, const char *disk);
/* Set the image of disk in r. */
void cp_set_image(struct checkpoint_row *r, const char *disk,
    const char *path);
/* Whether path is any checkpoint's image (never removed then). */
bool cp_tree_holds(const struct cp_tree *t, const char *path);
/* A new overlay's path next to path for disk of vm (caller frees). */
char *cp_overlay_path(const struct vm *vm, const char *disk,
    const char *near);
/* Record disk's file (store and memory). */
int cp_set_disk(struct vm *vm, const char *disk, const char *path);
