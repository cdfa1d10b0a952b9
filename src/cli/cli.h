/* cli.h - what the files of the tern command share: the run context, the
 * command table's types, the argument parser and job waiting.  The CLI
 * links only base and libcurl; it must never include a daemon header. */
#pragma once

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "http.h"

/* A usage error travels as this code so that cli_main() can exit 2.  Rule
 * zero: EDOM is borrowed because http.c never maps an answer to it. */
#define CLI_EUSAGE (-EDOM)

enum cli_exit { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

#define CLI_MAX_POS 3		/* positional arguments of one command */
#define CLI_MAX_OPTS 128	/* options on one command line */

/* One option of a command: --name, or --name ARG when arg is not NULL. */
struct cli_opt {
	const char *name;	/* without the leading "--" */
	const char *arg;	/* the value's name for messages, or NULL */
	bool repeat;		/* may be given more than once */
};

struct cli_arg {
	const char *name;	/* a cli_opt name */
	const char *value;	/* "" for a flag */
};

/* A parsed command line.  Invariant: opt[] keeps the order of the command
 * line (disks are numbered in that order); pos[] has exactly the number of
 * names the command lists, unless help is set. */
struct cli_args {
	const char *pos[CLI_MAX_POS];
	int npos;
	struct cli_arg opt[CLI_MAX_OPTS];
	int nopt;
	bool help;		/* --help or -h was given */
};

struct cli;

/* An entry of the command table in cli.c, which holds all usage text. */
struct cli_cmd {
	const char *group;	/* "vm" */
	const char *verb;	/* "create", or NULL for a one-word command */
	const char *pos[CLI_MAX_POS];	/* positional names, in order */
	const struct cli_opt *opts;	/* ends with { NULL }; NULL if none */
	bool starts_job;	/* takes --no-wait */
	const char *synopsis;	/* the options, for the usage line */
	const char *help;	/* one line: what it does */
	int (*run)(struct cli *cli, const struct cli_args *a,
	    struct err *err);
};

/* Invariant: http is connected to one daemon for the whole run. */
struct cli {
	const struct cli_cmd *cmd;	/* the command being run */
	struct http *http;
	bool json;		/* --json: the API's JSON on stdout */
	bool no_wait;		/* --no-wait: print the job, do not wait */
	bool local;		/* the unix socket, not --host */
};

/* Set by SIGINT while cli_sigint_catch() is in force. */
extern volatile sig_atomic_t cli_interrupted;

/* Run the tern command line argv; returns the exit status (enum cli_exit).
 * Prints results on stdout and "tern: <message>" on stderr. */
int cli_main(int argc, char **argv);

/* Set a usage error (exit 2) in err; returns CLI_EUSAGE. */
int cli_usage(struct err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The value of option name (the last one given), "" for a flag that was
 * given, NULL when absent. */
const char *cli_args_get(const struct cli_args *a, const char *name);

/* s as a whole decimal number in [min, max] into *ret; a usage error that
 * names what (e.g. "--cpus") otherwise. */
int cli_parse_u64(const char *what, const char *s, uint64_t min,
    uint64_t max, uint64_t *ret, struct err *err);

/* prefix + name escaped as one path segment + suffix; caller frees. */
char *cli_path(struct cli *cli, const char *prefix, const char *name,
    const char *suffix);

/* A file name the daemon will open, made absolute when the daemon is local
 * (realpath() if the file exists, else prefixed with the current
 * directory), and as given for --host.  Caller frees. */
char *cli_file_arg(struct cli *cli, const char *path);

/* obj[key] = s; a usage error when s is not valid UTF-8. */
int cli_json_set_str(json_t *obj, const char *key, const char *s,
    struct err *err);

/* SIGINT sets cli_interrupted (after clearing it) instead of killing tern,
 * until cli_sigint_restore(old). */
void cli_sigint_catch(struct sigaction *old);
void cli_sigint_restore(const struct sigaction *old);
/* Sleep ms; false (early) when SIGINT arrived. */
bool cli_sleep_ms(unsigned ms);

/* "job 17 (vm.start web1)" into buf. */
const char *cli_job_label(const json_t *job, char *buf, size_t len);

/* For --no-wait: print answer (a 202 body holding "job") as JSON, or
 * "job ID".  Fails with -EPROTO when the answer has no job id. */
int cli_job_print_started(struct cli *cli, const json_t *answer,
    struct err *err);

/* Wait for job (a job object from an answer) to succeed, fail or be
 * cancelled, polling every 200 ms and drawing a progress bar on a terminal.
 * Stores the final job in *ret_job.  Fails with -EINTR and a sentence that
 * says the job goes on when SIGINT arrives (the job is not cancelled), or
 * with the error of a failed poll. */
int cli_job_wait(struct cli *cli, const json_t *job, json_t **ret_job,
    struct err *err);

/* 0 when the final job succeeded; else -EIO ("job 17 (vm.start web1)
 * failed: <its error>") or -ECANCELED. */
int cli_job_check(const json_t *job, struct err *err);

/* The command table's run functions: each runs one command with its parsed
 * arguments, prints its result, and returns 0, CLI_EUSAGE or -errno with
 * err set. */
int cmd_host_info(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_pool_create(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_obj_list(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_obj_delete(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_switch_create(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_switch_show(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_peer_add(struct cli *cli, const struct cli_args *a, struct err *err);
/* Send a request (body may be NULL) that answers 202 {"job"}, then follow
 * the job (an answer without one was done at once); done is what to say
 * of VM name when it succeeded. */
int cli_vm_job(struct cli *cli, const char *method, const char *path,
    const json_t *body, const char *name, const char *done, struct err *err);
/* The same for any job; done is the whole line printed on success. */
int cli_run_job(struct cli *cli, const char *method, const char *path,
    const json_t *body, const char *done, struct err *err);
int cmd_vm_create(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_shutdown(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_quiesce(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_backup_create(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_backup_restore(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_backup_prune(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_backup_verify(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_backup_list(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_replica_server(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_failover_planned(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_replication(struct cli *cli, const struct cli_args *a,
    struct err *err);
/* fo_test_cmd.c */
int cmd_vm_replication_set(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_failover_apply_ip(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_replication_import_seed(struct cli *cli, const struct cli_args *a,
    struct err *err);
/* cluster_cmd.c */
int cmd_cluster_create(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_cluster_show(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_cluster_destroy(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_ha(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_cluster_set(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_list_cluster(struct cli *cli, struct err *err);
int cmd_cluster_balance(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_cluster_maintain(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_cluster_node_op(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_cluster_node(struct cli *cli, const struct cli_args *a,
    struct err *err);

/* failover_cmd.c */
int cmd_vm_failover(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_failover_end(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_failover_test(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_replication_drill(struct cli *cli, const struct cli_args *a,
    struct err *err);
/* fo_test_cmd.c: replication show's lines of the test failover running
 * and of the DR drills (o: the relationship's JSON). */
struct table;
void failover_show(struct table *t, const json_t *o);
int cmd_replication_list(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_checkpoint(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_refpoint(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_set(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_kvp(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_media(struct cli *cli, const struct cli_args *a, struct err *err);
/* nic_cmd.c: vm nic add|remove|set */
int cmd_vm_nic(struct cli *cli, const struct cli_args *a, struct err *err);
/* vm_cmd.c: one --net SWITCH[,vlan=ID][,trunk=..][,mac=MAC] as a NIC's
 * JSON (shape only; ternd checks the values). */
int cli_net_parse(const char *value, json_t **ret_nic, struct err *err);
int cmd_vm_list(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_show(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_action(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_delete(struct cli *cli, const struct cli_args *a, struct err *err);
/* screen_cmd.c */
int cmd_vm_screenshot(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_vnc(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_console(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_export(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_move(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_move_storage(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_peer_measure(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_vm_import(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_vm_import_libvirt(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_job_list(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_job_show(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_job_watch(struct cli *cli, const struct cli_args *a, struct err *err);
int cmd_job_cancel(struct cli *cli, const struct cli_args *a,
    struct err *err);
int cmd_events(struct cli *cli, const struct cli_args *a, struct err *err);
/* cluster_cmd.c */
int cmd_cluster_validate(struct cli *cli, const struct cli_args *a,
    struct err *err);
