/* job_int.h - what job.c and table.c share, and nothing else sees. */
#pragma once

#include "job.h"

/* Add job to t's active list / take it out (it finished). */
void job_attach(struct job_table *t, struct job *job);
void job_detach(struct job *job);
/* Free a job no longer in t's list (no store write). */
void job_free(struct job *job);
/* The job ended: its slots are free again, and it waits no more; poke
 * the jobs waiting in the pools it held or waited in. */
void job_slot_release(struct job *job);
/* RUNNING <-> QUEUED (a job waiting for a slot shows as queued); a
 * cancelling or finished job stays as it is. */
void job_set_queued(struct job *job, bool queued);
/* Recount the tern_jobs_active gauge from t's jobs (and declare the
 * job families); called whenever a job comes, goes or changes state. */
void job_metrics_recount(struct job_table *t);
