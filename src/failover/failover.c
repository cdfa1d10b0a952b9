/* failover.c - the module's start: its job types and timers registered
 * (the mechanisms are in the files failover.h names). */
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
}
