/* conf.c - corosync.conf from the cluster's record (pure, base only). */
#include "conf.h"
