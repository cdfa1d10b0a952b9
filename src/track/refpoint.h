/* refpoint.h - reference points of change tracking.
 *
 * A reference point is a moment of a VM's disks that a later copy is
 * taken relative to (a backup point now, a replica's point next).  Per
 * disk it is a persistent dirty bitmap in the qcow2, "tern-NAME", that
 * QEMU adds in the same transaction that takes the point (so no write
 * escapes it), and a record in ternd's store (struct refpoint_row): the
 * generation (QEMU runs the bitmap came through intact) and whether the
 * tracking is known complete.  The block map of the disk at the point
 * (src/track/blockmap.h) sits with the copy (a backup point's .map).
 *
 * Tracking is never trusted blindly.  Before the vCPUs of every QEMU run
 * first execute (vm.start's hook), each complete point's bitmap must be
 * in the image and consistent; QEMU stores bitmaps only when it closes an
 * image, so after a crash or kill -9 they come back inconsistent (or not
 * at all).  Such a point is marked incomplete, with the reason, and its
 * bitmap removed (an inconsistent bitmap would also break a migration);
 * stray tern- bitmaps are removed too.  A copy relative to an incomplete
 * point does not fall back to a full copy: it reads the disk and compares
 * each block's checksum with the point's map (tern-blockcopy --compare).
 *
 *   vm.start, before cont:
 *     none --query-named-block-nodes--> looking --bump/lose rows,
 *     remove stray and inconsistent bitmaps--> removing --all replied-->
 *     done (cont) */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct host;
struct vm;
struct job;
struct store;
struct vm_row;

#define TRACK_BITMAP_PREFIX "tern-"
#define TRACK_NAME_MAX 64

/* Install the start hook and the job types that use tracking. */
void track_init(struct host *h);

/* QEMU's name of point name's bitmap. */
void track_bitmap_name(char buf[TRACK_NAME_MAX + 8], const char *name);

/* The VM's reference points for the API: [{name, owner, created_ms, age_s,
 * target, point, disks: [{disk, gen, complete, reason, changed_bytes}]}]
 * (changed_bytes: the bitmap's dirty bytes at the last look, absent when
 * unknown). */
json_t *track_refpoints_json(struct vm *vm);

/* Drop reference point name of vm (every disk) and, while QEMU runs, its
 * bitmaps (an off VM's go at its next start).  -ENOENT when there is no
 * such point, -EBUSY while a job acts on the VM. */
int track_refpoint_delete(struct vm *vm, const char *name, struct err *err);

/* The node disk's device uses now (a storage move renames it). */
void track_note_node(struct vm *vm, const char *disk, const char *node);

/* Drop it whatever runs (the backup job replacing its points). */
void track_refpoint_drop(struct vm *vm, const char *name);

/* Record a new point of vm for every disk (complete, gen 0). */
int track_refpoint_add(struct vm *vm, const char *name, const char *owner,
    const char *target, const char *point, const char *map_dir,
    struct err *err);

/* A move carries the VM's points: the list for the peer, and, on the
 * destination, the peer's list (arr; NULL: none) checked against row's
 * disks and, with st, recorded for row (copied: the disks were copied
 * without the bitmaps, so each point is incomplete; a live copy carries
 * them, track_bitmap_mapping()).  -EINVAL naming
 * what is wrong. */
#define TRACK_IMPORT_MAX 256
json_t *track_refpoints_export(const struct vm *vm);
int track_refpoints_import(struct store *st, const struct vm_row *row,
    const json_t *arr, bool copied, struct err *err);

/* QEMU's block-bitmap-mapping for a move that copies the disks live: per
 * disk its node (from query-block's reply blocks, or "DISK-fmt" as the
 * destination launches it when NULL), aliased by the disk's name, with
 * the bitmap of each complete point.  NULL when there is none (then the
 * move carries no bitmaps). */
json_t *track_bitmap_mapping(struct vm *vm, const json_t *blocks);

/* Tracking since name (every point when NULL) of vm's disk (every disk
 * when NULL) is no longer complete: why, recorded and told as an event. */
void track_lose(struct vm *vm, const char *name, const char *disk,
    const char *why);
