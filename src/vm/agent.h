/* agent.h - integration services through qemu-guest-agent, per VM:
 * heartbeat (is the guest OS alive, not just QEMU), data exchange (guest
 * host name, OS and addresses; host key/values written into the guest),
 * time sync, quiesce (freeze with a guaranteed thaw) and graceful shutdown.
 * A guest without an agent works normally; its services say "absent".
 *
 * Heartbeat, per VM while QEMU runs:
 *
 *   ABSENT --ping answered--> OK --2 pings missed--> LOST --answered--> OK
 *   (never answered since     (events on OK<->LOST; OFF when the service
 *    QEMU started)             is switched off)
 *
 * Transitions: agent_tick() (every AGENT_TICK_MS) and agent_on_ping(). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "qmp.h"

struct vm;

#define AGENT_TICK_MS 5000	/* heartbeat interval */
#define AGENT_INFO_MS 30000	/* guest info refresh */
#define AGENT_KVP_PATH "/run/tern-kvp"	/* key=value lines in the guest */
#define AGENT_KVP_MAX 64	/* pairs */
#define AGENT_KVP_KEY_MAX 64	/* bytes */
#define AGENT_KVP_VALUE_MAX 1024

enum agent_beat { AGENT_ABSENT, AGENT_OK, AGENT_LOST, AGENT_OFF,
		  AGENT_BEAT__COUNT };

enum vm_service { SVC_HEARTBEAT, SVC_SHUTDOWN, SVC_DATA_EXCHANGE,
		  SVC_TIME_SYNC, SVC_QUIESCE, SVC__COUNT };

struct agent {
	struct qmp *q;		/* NULL while not connected */
	enum agent_beat beat;
	bool answered;		/* answered since QEMU started */
	uint64_t last_answer_ms;	/* monotonic, of the last ping's answer */
	unsigned misses;	/* pings missed in a row */
	bool ping_in_flight;
	struct loop_timer *timer;
	uint64_t info_ms;	/* monotonic time of the last info refresh */
	json_t *info;		/* {hostname, os, addresses}, or NULL */
	bool frozen;		/* frozen by us, not yet thawed */
	bool freeze_pending;
	struct loop_timer *thaw_timer;	/* the guaranteed thaw */
	char *error;		/* the last agent failure, for jobs */
};

const char *agent_beat_name(enum agent_beat b);
const char *vm_service_name(enum vm_service s);
/* -EINVAL for an unknown name. */
int vm_service_from_name(const char *name);
/* Services are on unless the VM's config switches them off. */
bool vm_service_on(const struct vm *vm, enum vm_service s);

/* QEMU is up: connect to its agent channel and start the heartbeat. */
void agent_start(struct vm *vm);
/* QEMU is gone (or going): drop everything; NULL-safe on a stopped one. */
void agent_stop(struct vm *vm);
/* The agent answers right now. */
bool agent_is_ready(const struct vm *vm);

/* Write the VM's key/values into AGENT_KVP_PATH in the guest (also done
 * on every agent connect). */
void agent_kvp_push(struct vm *vm);
/* Set the guest clock to the host's (after resume, restore, migration). */
void agent_set_time(struct vm *vm);
/* guest-shutdown (powerdown); the exit of QEMU says it worked. */
int agent_shutdown(struct vm *vm);
/* Freeze the guest's file systems; they are thawed after max_ms whatever
 * happens.  The VM's job is poked when the freeze answers (a->frozen, or
 * a->error).  -ENOTCONN without an agent. */
int agent_freeze(struct vm *vm, uint64_t max_ms);
/* Thaw now (no-op unless frozen by us); pokes the job when done. */
void agent_thaw(struct vm *vm);

/* {"heartbeat": ..., "hostname", "os", "addresses"} for vm_to_json. */
json_t *agent_to_json(const struct vm *vm);

/* Check a key/value pair against the limits above; err says why not. */
int agent_kvp_check(const char *key, const char *value, struct err *err);
