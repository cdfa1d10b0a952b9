/* failover.c - the module's start: its job types and timers registered
 * (the mechanisms are in the files failover.h names). */
#include "failover.h"
#include "fo_int.h"
#include "host.h"

void
failover_init(struct host *h)
{
	job_type_register(&h->jobs, &job_vm_failover);
	job_type_register(&h->jobs, &job_vm_failover_cancel);
	job_type_register(&h->jobs, &job_replication_reverse);
	fo_notify_start(h);
	job_type_register(&h->jobs, &job_failover_planned);
}
