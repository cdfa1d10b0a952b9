/* failover.c - the module's start: its job types and timers registered
 * (the mechanisms are in the files failover.h names); the row's JSON
 * columns it keeps ("test", "drill") read and written. */
#include <errno.h>
#include <stdlib.h>

#include "failover.h"
#include "fo_int.h"
#include "host.h"
#include "job.h"

void
failover_init(struct host *h)
{
	job_type_register(&h->jobs, &job_failover_ip_set);
	job_type_register(&h->jobs, &job_failover_test);
	job_type_register(&h->jobs, &job_failover_test_stop);
	fo_drill_init(h);
	job_type_register(&h->jobs, &job_vm_failover);
	job_type_register(&h->jobs, &job_vm_failover_cancel);
	job_type_register(&h->jobs, &job_replication_reverse);
	fo_notify_start(h);
}

int
fo_row_json_load(struct host *h, const char *uuid, bool drill, json_t **ret)
{
	struct replication_row r;
	const char *text;
	json_t *o = NULL;
	int rc = store_replication_get(h->store, uuid, &r);

	if (rc < 0)
		return rc;
	text = drill ? r.drill : r.test;
	if (text)
		o = json_loads(text, 0, NULL);
	replication_row_done(&r);
	*ret = json_is_object(o) ? o : NULL;
	if (!*ret)
		json_decref(o);
	return 0;
}

int
fo_row_json_save(struct host *h, const char *uuid, bool drill,
    const json_t *o)
{
	struct replication_row r;
	char **col = drill ? &r.drill : &r.test;
	int rc = store_replication_get(h->store, uuid, &r);

	if (rc < 0)
		return rc;
	free(*col);
	*col = o ? json_dumps(o, JSON_COMPACT) : NULL;
	rc = store_replication_update(h->store, &r);
	replication_row_done(&r);
	return rc;
}

int
fo_drill_load(struct host *h, const char *uuid, json_t **ret)
{
	return fo_row_json_load(h, uuid, true, ret);
}

int
fo_drill_save(struct host *h, const char *uuid, const json_t *drill)
{
	return fo_row_json_save(h, uuid, true, drill);
}
