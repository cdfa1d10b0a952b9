/* conf.h - corosync.conf written from the cluster's record (pure, base
 * only; unit test test_cluster_conf). */
#pragma once
