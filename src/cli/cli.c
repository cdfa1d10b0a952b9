/* cli.c - the tern command: global options, the command table (the one
 * place that holds usage text, as in kvmtool and vmctl), argument parsing
 * and dispatch.  Decides the exit status: 0 done, 1 the operation failed,
 * 2 usage error.  Must never talk to ternd itself; commands do. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#ifndef TERN_VERSION
#define TERN_VERSION "unknown"
#endif

#define DEFAULT_SOCKET "/run/tern/ternd.sock"
#define DEFAULT_CERT "/var/lib/tern/tls/host.crt"
#define DEFAULT_KEY "/var/lib/tern/tls/host.key"

enum global {
	G_SOCKET, G_HOST, G_FINGERPRINT, G_CERT, G_KEY, G_JSON, G_NO_WAIT,
	G_HELP, G_VERSION, G__COUNT
};

static const struct {
	const char *name;
	const char *arg;	/* NULL for a flag */
	const char *env;
	const char *help;
} cli_globals[G__COUNT] = {
	[G_SOCKET] = { "socket", "PATH", "TERN_SOCKET",
	    "ternd's unix socket (default " DEFAULT_SOCKET ")" },
	[G_HOST] = { "host", "URL", "TERN_HOST",
	    "talk to https://ADDR:PORT instead of the local socket" },
	[G_FINGERPRINT] = { "fingerprint", "sha256:HEX", "TERN_FINGERPRINT",
	    "the key --host must have ('tern host info' there shows it)" },
	[G_CERT] = { "cert", "FILE", "TERN_CERT",
	    "client certificate (default " DEFAULT_CERT ")" },
	[G_KEY] = { "key", "FILE", "TERN_KEY",
	    "its private key (default " DEFAULT_KEY ")" },
	[G_JSON] = { "json", NULL, NULL,
	    "print the API's JSON, for scripts (any command takes it)" },
	[G_NO_WAIT] = { "no-wait", NULL, NULL,
	    "do not wait for a job to end; print its id" },
	[G_HELP] = { "help", NULL, NULL, "show this help" },
	[G_VERSION] = { "version", NULL, NULL, "show tern's version" },
};

static const struct cli_opt opt_vm_create[] = {
	{ "cpus", "N" }, { "memory", "SIZE" },
	{ "disk", "SIZE[@POOL]", true }, { "disk-path", "PATH", true },
	{ "net", "SWITCH", true }, { "kernel", "FILE" }, { "initrd", "FILE" },
	{ "cmdline", "TEXT" }, { "cpu-compat", NULL }, { "machine", "TYPE" },
	{ "firmware", "bios|uefi" }, { "secure-boot", NULL }, { "tpm", NULL },
	{ "boot", "disk,cdrom,network,kernel" }, { "cdrom", "ISO|none" },
	{ "cloud-init", "FILE" }, { "ssh-key", "FILE" },
	{ "cloud-init-net", "NIC=ADDR/PREFIX[,gw=GW][,dns=DNS]", true },
	{ "hotplug-ports", "N" }, { NULL }
};
static const struct cli_opt opt_vm_nic_add[] = {
	{ "net", "SWITCH[,vlan=ID][,trunk=ID-ID,...][,mac=MAC]" }, { NULL }
};
static const struct cli_opt opt_vm_nic_set[] = {
	{ "switch", "SWITCH" }, { "vlan", "ID|none" },
	{ "trunk", "ID-ID,...|none" }, { NULL }
};
static const struct cli_opt opt_vm_checkpoint[] = {
	{ "kind", "production|standard" }, { NULL }
};
static const struct cli_opt opt_replica_server[] = {
	{ "allow", "PEER=POOL", true }, { "any", NULL }, { "pool", "POOL" },
	{ NULL }
};
static const struct cli_opt opt_vm_replication[] = {
	{ "to", "PEER" }, { "interval", "30s|5m|15m" },
	{ "exclude-disk", "vdX", true }, { "compress", "on|off" },
	{ "points", "N" }, { "app-consistent-every", "HOURS" },
	{ "initial", "now|at TIME|existing|offline DIR" }, { NULL }
};
static const struct cli_opt opt_vm_replication_set[] = {
	{ "failover-ip", "NIC=ADDR/PREFIX[,gw=GW][,dns=DNS]", true }, { NULL }
};
static const struct cli_opt opt_vm_replication_remove[] = {
	{ "keep-replica", NULL }, { NULL }
};
static const struct cli_opt opt_cluster_create[] = {
	{ "node", "HOST", true }, { "witness", "ADDR[:PORT]" },
	{ "token", "MS" }, { NULL }
};
static const struct cli_opt opt_vm_ha[] = {
	{ "priority", "high|medium|low|no-auto-start" },
	{ "preferred", "NODES" }, { "anti-affinity", "GROUP" },
	{ "failback", "never|immediate|window HH-HH" },
	{ "resiliency-period", "S" }, { NULL }
};
static const struct cli_opt opt_cluster_set[] = {
	{ "resiliency-period", "S" }, { "resiliency-level",
	  "always-isolated|isolated-if-storage-alive" },
	{ "quarantine-threshold", "N" }, { "quarantine-duration", "S" },
	{ "balance-threshold", "PCT" }, { "balance-by", "memory|cpu" },
	{ "balance-interval", "S" }, { NULL }
};
static const struct cli_opt opt_cluster_maintain[] = {
	{ "run", "NAME", true }, { NULL }
};
static const struct cli_opt opt_cluster_balance[] = {
	{ "dry-run", NULL }, { "threshold", "PCT" }, { NULL }
};
static const struct cli_opt opt_cluster_resume[] = {
	{ "failback", NULL }, { NULL }
};
static const struct cli_opt opt_vm_list[] = {
	{ "cluster", NULL }, { NULL }
};
static const struct cli_opt opt_vm_failover[] = {
	{ "point", "SEQ" }, { NULL }
};
static const struct cli_opt opt_vm_failover_test[] = {
	{ "point", "SEQ" }, { "switch", "SW" }, { NULL }
};
static const struct cli_opt opt_vm_replication_drill[] = {
	{ "every", "24h|Nh|Nm|off" }, { "check", "CMD" }, { NULL }
};
static const struct cli_opt opt_vm_delete[] = {
	{ "keep-disks", NULL }, { NULL }
};
static const struct cli_opt opt_vm_shutdown[] = {
	{ "timeout", "SECONDS" }, { "force", NULL }, { NULL }
};
static const struct cli_opt opt_vm_quiesce[] = {
	{ "hold", "SECONDS" }, { NULL }
};
static const struct cli_opt opt_vm_set[] = {
	{ "service", "NAME=on|off", true }, { NULL }
};
static const struct cli_opt opt_vm_import[] = {
	{ "copy", NULL }, { "register", NULL }, { "name", "NEW" },
	{ "new-id", NULL }, { "pool", "POOL" }, { NULL }
};
static const struct cli_opt opt_vm_import_libvirt[] = {
	{ "copy", NULL }, { "register", NULL }, { "name", "NEW" },
	{ "pool", "POOL" }, { NULL }
};
static const struct cli_opt opt_follow[] = { { "follow", NULL }, { NULL } };
static const struct cli_opt opt_vm_vnc[] = {
	{ "listen", "127.0.0.1:PORT" }, { "on", "HOST" }, { NULL }
};
static const struct cli_opt opt_vm_screenshot[] = {
	{ "on", "HOST" }, { NULL }
};
static const struct cli_opt opt_job_list[] = {
	{ "vm", "NAME" }, { "active", NULL }, { NULL }
};
static const struct cli_opt opt_events[] = {
	{ "follow", NULL }, { "vm", "NAME" }, { "limit", "N" }, { NULL }
};
static const struct cli_opt opt_vm_move[] = {
	{ "to", "PEER" }, { "copy-storage", NULL }, { "pool", "POOL" },
	{ "disk", "vdX=POOL", true }, { NULL }
};
static const struct cli_opt opt_vm_move_storage[] = {
	{ "to", "POOL|DIR" }, { "disk", "DISK=POOL|DIR", true }, { NULL }
};
static const struct cli_opt opt_backup_create[] = {
	{ "to", "REPO" }, { "full", NULL }, { "quiesce", NULL }, { NULL }
};
static const struct cli_opt opt_backup_restore[] = {
	{ "point", "P" }, { "vm", "NAME" }, { "name", "NEW" },
	{ "pool", "POOL" }, { NULL }
};
static const struct cli_opt opt_backup_verify[] = {
	{ "point", "P" }, { "vm", "NAME" }, { NULL }
};
static const struct cli_opt opt_backup_prune[] = {
	{ "vm", "NAME" }, { "keep", "N" }, { NULL }
};
static const struct cli_opt opt_backup_list[] = {
	{ "vm", "NAME" }, { NULL }
};
static const struct cli_opt opt_switch_create[] = {
	{ "isolated", NULL }, { "uplink", "IF", true },
	{ "bond-mode", "active-backup|802.3ad|balance-xor" }, { NULL }
};
static const struct cli_opt opt_peer_add[] = {
	{ "fingerprint", "sha256:HEX" }, { NULL }
};
static const struct cli_opt opt_cluster_validate[] = {
	{ "node", "NAME", true }, { NULL }
};

#define VM_ACTION(v, what) { .group = "vm", .verb = v, .pos = { "NAME" }, \
	.starts_job = true, .help = what, .run = cmd_vm_action }

static const struct cli_cmd cli_cmds[] = {
	{ .group = "host", .verb = "info", .run = cmd_host_info,
	  .help = "show this host: version, fingerprint, capacity" },
	{ .group = "pool", .verb = "create", .pos = { "NAME", "PATH" },
	  .run = cmd_pool_create,
	  .help = "make directory PATH a storage pool for disk images" },
	{ .group = "pool", .verb = "list", .run = cmd_obj_list,
	  .help = "list storage pools with their size and free space" },
	{ .group = "pool", .verb = "delete", .pos = { "NAME" },
	  .run = cmd_obj_delete,
	  .help = "forget a pool that holds no disk (files stay)" },
	{ .group = "switch", .verb = "create", .pos = { "NAME" },
	  .opts = opt_switch_create, .synopsis = "[--uplink IF]... "
	  "[--bond-mode active-backup|802.3ad|balance-xor] [--isolated]",
	  .run = cmd_switch_create,
	  .help = "make a virtual switch (a Linux bridge) for NICs, on the\n"
	  "      host's interface IF (several: bonded) or --isolated" },
	{ .group = "switch", .verb = "list", .run = cmd_obj_list,
	  .help = "list virtual switches" },
	{ .group = "switch", .verb = "show", .pos = { "NAME" },
	  .run = cmd_switch_show,
	  .help = "show a switch: its bridge, uplinks and ports" },
	{ .group = "switch", .verb = "delete", .pos = { "NAME" },
	  .run = cmd_obj_delete, .help = "delete a switch no NIC uses" },
	{ .group = "peer", .verb = "add", .pos = { "NAME", "URL" },
	  .opts = opt_peer_add, .synopsis = "--fingerprint sha256:HEX",
	  .run = cmd_peer_add,
	  .help = "trust the host at URL (https://ADDR:PORT) with that key" },
	{ .group = "peer", .verb = "list", .run = cmd_obj_list,
	  .help = "list trusted peer hosts" },
	{ .group = "peer", .verb = "remove", .pos = { "NAME" },
	  .run = cmd_obj_delete, .help = "stop trusting a peer host" },
	{ .group = "peer", .verb = "measure", .pos = { "NAME" },
	  .starts_job = true, .run = cmd_peer_measure,
	  .help = "measure the link to a peer now (moves use the rate)" },
	{ .group = "vm", .verb = "create", .pos = { "NAME" },
	  .opts = opt_vm_create, .starts_job = true, .run = cmd_vm_create,
	  .synopsis = "--cpus N --memory SIZE|MIN..MAX[,buffer=PCT]\n"
	  "            [--net SWITCH[,vlan=ID][,trunk=ID-ID,...][,mac=MAC]]...\n"
	  "            [--disk SIZE[@POOL] | --disk-path PATH]...\n"
	  "            [--kernel FILE [--initrd FILE] [--cmdline TEXT]] "
	  "[--cpu-compat]\n"
	  "            [--machine TYPE] [--firmware bios|uefi [--secure-boot]]"
	  " [--tpm]\n"
	  "            [--boot disk,cdrom,network,kernel] [--cdrom ISO|none]\n"
	  "            [--cloud-init FILE [--ssh-key FILE]\n"
	  "            [--cloud-init-net NIC=ADDR/PREFIX[,gw=GW][,dns=DNS"
	  "[;DNS2]]]...]\n"
	  "            [--hotplug-ports N]",
	  .help = "create a VM; --disk makes a new qcow2 image in POOL, "
	  "--disk-path uses one; --machine picks the QEMU machine type "
	  "(default: the newest pc-q35 the host offers, see 'host info');\n"
	  "      --firmware uefi boots OVMF with the VM's own NVRAM, "
	  "--secure-boot its Secure Boot\n      build, --tpm adds a TPM 2.0 "
	  "(swtpm); --boot orders the boot devices; --cdrom adds\n      a CD "
	  "drive with ISO (in a pool or an iso-dir; none: empty); "
	  "--cloud-init makes a\n      NoCloud seed from the user-data FILE "
	  "(with --ssh-key's public keys\n      and a network-config: every "
	  "NIC by its MAC, DHCP unless --cloud-init-net gives\n      it a "
	  "static address; NICs are nic0, nic1... in --net's order);\n"
	  "      --hotplug-ports: PCIe ports for NICs added while it runs "
	  "(default 4 on q35)" },
	{ .group = "vm", .verb = "list", .run = cmd_vm_list,
	  .opts = opt_vm_list, .synopsis = "[--cluster]",
	  .help = "list VMs; --cluster: every VM of this host's cluster once, "
	  "with its\n      owner node and HA settings" },
	{ .group = "vm", .verb = "show", .pos = { "NAME" },
	  .run = cmd_vm_show,
	  .help = "show a VM (NAME or UUID) with its disks and NICs" },
	VM_ACTION("start", "start a VM"),
	VM_ACTION("stop", "turn a VM off (hard)"),
	VM_ACTION("pause", "pause a running VM"),
	VM_ACTION("resume", "resume a paused VM"),
	{ .group = "vm", .verb = "shutdown", .pos = { "NAME" },
	  .opts = opt_vm_shutdown, .starts_job = true,
	  .synopsis = "[--timeout SECONDS] [--force]", .run = cmd_vm_shutdown,
	  .help = "shut the guest down (guest agent, else ACPI); fails after "
	  "--timeout (120)\n      and the VM keeps running, unless --force "
	  "turns it off" },
	VM_ACTION("save", "save memory and device state to a file next to "
	    "the disks\n      and end QEMU; 'vm start' restores it"),
	{ .group = "vm", .verb = "quiesce", .pos = { "NAME" },
	  .opts = opt_vm_quiesce, .starts_job = true,
	  .synopsis = "[--hold SECONDS]", .run = cmd_vm_quiesce,
	  .help = "freeze the guest's file systems through the agent, hold, "
	  "thaw" },
	{ .group = "vm", .verb = "set", .pos = { "NAME" }, .opts = opt_vm_set,
	  .synopsis = "--service NAME=on|off...", .run = cmd_vm_set,
	  .help = "switch guest services on or off: heartbeat, shutdown,\n"
	  "      data-exchange, time-sync, quiesce" },
	{ .group = "vm", .verb = "kvp set", .pos = { "NAME", "KEY", "VALUE" },
	  .run = cmd_vm_kvp,
	  .help = "set a key/value the guest reads in " "/run/tern-kvp" },
	{ .group = "vm", .verb = "media insert", .pos = { "NAME", "ISO" },
	  .run = cmd_vm_media,
	  .help = "put ISO in the VM's CD drive (running or not; the ISO in "
	  "a pool or an\n      iso-dir)" },
	{ .group = "vm", .verb = "media eject", .pos = { "NAME" },
	  .run = cmd_vm_media, .help = "empty the VM's CD drive" },
	{ .group = "vm", .verb = "nic add", .pos = { "NAME" },
	  .opts = opt_vm_nic_add, .run = cmd_vm_nic,
	  .synopsis = "--net SWITCH[,vlan=ID][,trunk=ID-ID,...][,mac=MAC]",
	  .help = "add a NIC: plugged into a running VM (a free hot-plug "
	  "port), else recorded\n      for its next start" },
	{ .group = "vm", .verb = "nic remove", .pos = { "NAME", "NIC" },
	  .run = cmd_vm_nic,
	  .help = "remove a NIC (nicN, N or its MAC): unplugged from a "
	  "running VM once\n      the guest lets it go (one added while it "
	  "ran), else from its config" },
	{ .group = "vm", .verb = "nic set", .pos = { "NAME", "NIC" },
	  .opts = opt_vm_nic_set, .run = cmd_vm_nic,
	  .synopsis = "[--switch SWITCH] [--vlan ID|none] "
	  "[--trunk ID-ID,...|none]",
	  .help = "move a NIC to another switch or VLANs (running or not)" },
	{ .group = "vm", .verb = "kvp list", .pos = { "NAME" },
	  .run = cmd_vm_kvp, .help = "list a VM's key/values" },
	{ .group = "vm", .verb = "kvp delete", .pos = { "NAME", "KEY" },
	  .run = cmd_vm_kvp, .help = "delete a key/value" },
	{ .group = "vm", .verb = "refpoint list", .pos = { "NAME" },
	  .run = cmd_vm_refpoint,
	  .help = "list a VM's reference points of change tracking: age,\n"
	  "      bytes changed since, whether tracking is complete" },
	{ .group = "vm", .verb = "refpoint delete", .pos = { "NAME", "POINT" },
	  .run = cmd_vm_refpoint,
	  .help = "delete a reference point and its bitmaps" },
	{ .group = "vm", .verb = "checkpoint create", .pos = { "NAME",
	  "[CHECKPOINT]" }, .opts = opt_vm_checkpoint,
	  .synopsis = "[--kind production|standard]", .starts_job = true,
	  .run = cmd_vm_checkpoint,
	  .help = "take a checkpoint (running, paused or off): production "
	  "(default) holds\n      the disks with the file systems quiesced "
	  "by the guest agent (else\n      crash-consistent); standard the "
	  "disks and the memory" },
	{ .group = "vm", .verb = "checkpoint list", .pos = { "NAME" },
	  .run = cmd_vm_checkpoint,
	  .help = "a VM's checkpoints as a tree, with where the VM is now" },
	{ .group = "vm", .verb = "checkpoint apply", .pos = { "NAME",
	  "CHECKPOINT" }, .starts_job = true, .run = cmd_vm_checkpoint,
	  .help = "return the VM to a checkpoint (its current state is "
	  "discarded; later\n      checkpoints stay): off, or saved with the "
	  "memory of a standard one" },
	{ .group = "vm", .verb = "checkpoint delete", .pos = { "NAME",
	  "CHECKPOINT" }, .starts_job = true, .run = cmd_vm_checkpoint,
	  .help = "delete a checkpoint, its data merged (online while the VM "
	  "runs)" },
	{ .group = "vm", .verb = "replication enable", .pos = { "NAME" },
	  .opts = opt_vm_replication, .starts_job = true,
	  .run = cmd_vm_replication,
	  .synopsis = "--to PEER [--interval 30s|5m|15m] [--exclude-disk "
	  "vdX]...\n      [--compress on|off] [--points N] "
	  "[--app-consistent-every H]\n      [--initial now|'at "
	  "YYYY-MM-DDTHH:MM:SSZ'|existing|'offline DIR']",
	  .help = "replicate a VM to the replica server PEER (Hyper-V's "
	  "Replica): the\n      replica VM is made there (state replica), "
	  "then kept INTERVAL behind\n      (default 5m; compress on; the "
	  "latest recovery point, and with --points N\n      the last "
	  "point of each of N hours more; --app-consistent-every H:\n      "
	  "every H hours a point with the guest's file systems frozen);\n      "
	  "--initial existing: the peer's pool holds a copy of each disk as\n      "
	  "VM-DISK.qcow2 (copied with the VM off): only the blocks that differ\n      "
	  "are sent; 'offline DIR': the first copy is written into DIR (a\n      "
	  "seed) to carry to the replica server and import there; changes are\n      "
	  "sent after" },
	{ .group = "vm", .verb = "replication import-seed", .pos = { "DIR" },
	  .starts_job = true, .run = cmd_replication_import_seed,
	  .help = "on the replica server: apply the seed in DIR (written by "
	  "'enable\n      --initial offline DIR' on the primary), which then "
	  "sends only the changes" },
	{ .group = "vm", .verb = "failover planned", .pos = { "NAME" },
	  .opts = opt_vm_shutdown, .starts_job = true,
	  .synopsis = "[--timeout SECONDS] [--force]",
	  .run = cmd_vm_failover_planned,
	  .help = "on the primary: shut the guest down (--timeout, --force "
	  "as for shutdown),\n      send a final cycle, fail over to the "
	  "replica, start it there and\n      reverse replication (this host "
	  "must allow the replica host);\n      refused unless replication is "
	  "healthy. Any failure before the\n      replica runs it starts it "
	  "here again" },
	{ .group = "vm", .verb = "replication show", .pos = { "NAME" },
	  .run = cmd_vm_replication,
	  .help = "a VM's replication: state, health and why, settings, "
	  "lag, cycles\n      (on the replica host: from what it received, and "
	  "its recovery points,\n      newest first; rules: "
	  "docs/replica-health.md)" },
	{ .group = "vm", .verb = "replication set", .pos = { "NAME" },
	  .opts = opt_vm_replication_set, .starts_job = true,
	  .run = cmd_vm_replication_set,
	  .synopsis = "--failover-ip NIC=ADDR/PREFIX[,gw=GW][,dns=DNS[;DNS2]]"
	  "...\n      (or --failover-ip NIC=none)",
	  .help = "the IP a NIC (nic0, nic1 as vm show names them) gets "
	  "when the VM\n      fails over (Hyper-V's failover TCP/IP), "
	  "applied through the guest\n      agent; on the primary it is sent "
	  "to the replica server too (refused,\n      nothing changed, when "
	  "that is unreachable); on the replica host it\n      is set there "
	  "only" },
	{ .group = "vm", .verb = "failover apply-ip", .pos = { "NAME" },
	  .run = cmd_vm_failover_apply_ip,
	  .help = "give the running VM its failover IP now, through its guest "
	  "agent (after\n      a manual failover); the result is an event" },
	{ .group = "vm", .verb = "replication now", .pos = { "NAME" },
	  .starts_job = true, .run = cmd_vm_replication,
	  .help = "run a replication cycle now, without waiting for the "
	  "interval" },
	{ .group = "vm", .verb = "replication verify", .pos = { "NAME" },
	  .starts_job = true, .run = cmd_vm_replication,
	  .help = "compare the replica's latest point with the primary's, "
	  "block by block\n      (checksums; no data sent); differing "
	  "blocks: exit 1, health critical" },
	{ .group = "vm", .verb = "replication resync", .pos = { "NAME" },
	  .starts_job = true, .run = cmd_vm_replication,
	  .help = "repair the replica: its map recomputed there, then one "
	  "cycle sending\n      every block that differs from it" },
	{ .group = "vm", .verb = "replication pause", .pos = { "NAME" },
	  .run = cmd_vm_replication,
	  .help = "pause a VM's replication (on the primary)" },
	{ .group = "vm", .verb = "replication resume", .pos = { "NAME" },
	  .run = cmd_vm_replication,
	  .help = "resume a paused replication, or one held critical (its "
	  "next cycle\n      carries everything since the last acknowledged)" },
	{ .group = "vm", .verb = "replication remove", .pos = { "NAME" },
	  .opts = opt_vm_replication_remove, .synopsis = "[--keep-replica]",
	  .starts_job = true, .run = cmd_vm_replication,
	  .help = "stop replicating a VM; the replica is deleted, or kept as "
	  "an ordinary VM\n      (--keep-replica); on either host" },
	{ .group = "vm", .verb = "failover complete", .pos = { "NAME" },
	  .run = cmd_vm_failover_end,
	  .help = "keep a failed-over VM (replica host): the other recovery "
	  "points are\n      given up, the VM is an ordinary VM" },
	{ .group = "vm", .verb = "failover cancel", .pos = { "NAME" },
	  .starts_job = true, .run = cmd_vm_failover_end,
	  .help = "undo a failover not completed: the VM turned off, a "
	  "replica again on\n      its latest recovery point (nothing of "
	  "the points lost)" },
	{ .group = "vm", .verb = "failover", .pos = { "NAME" },
	  .opts = opt_vm_failover, .synopsis = "[--point SEQ]",
	  .starts_job = true, .run = cmd_vm_failover,
	  .help = "fail a replica over (replica host, primary gone): start it "
	  "from the\n      latest or the given recovery point, on overlays "
	  "(the points stay)" },
	{ .group = "vm", .verb = "replication reverse", .pos = { "NAME" },
	  .starts_job = true, .run = cmd_vm_replication,
	  .help = "after a completed failover (on the new primary): "
	  "replicate back to the\n      old primary, whose held copy becomes "
	  "the replica (only differing blocks sent)" },
	{ .group = "vm", .verb = "failover test", .pos = { "NAME" },
	  .opts = opt_vm_failover_test, .synopsis = "[--point SEQ] "
	  "[--switch SW]", .starts_job = true, .run = cmd_vm_failover_test,
	  .help = "on the replica host: start NAME-test, a throwaway copy of "
	  "the replica\n      from its latest recovery point (or SEQ) on new "
	  "overlays, its NICs on\n      an isolated switch of its own (or SW); "
	  "replication goes on" },
	{ .group = "vm", .verb = "failover test-stop", .pos = { "NAME" },
	  .starts_job = true, .run = cmd_vm_failover_test,
	  .help = "stop and delete NAME-test: its overlays and the switch it "
	  "made go too;\n      the recovery points are untouched" },
	{ .group = "vm", .verb = "replication drill", .pos = { "NAME" },
	  .opts = opt_vm_replication_drill, .synopsis = "[--every "
	  "24h|Nh|Nm|off] [--check CMD]", .starts_job = true,
	  .run = cmd_vm_replication_drill,
	  .help = "on the replica host: a DR drill now (a test failover of "
	  "the latest\n      point, the guest's heartbeat awaited, CMD run in "
	  "the guest through its\n      agent: pass if it exits 0; then the "
	  "test stopped), or with --every\n      one each period; results in "
	  "'replication show'; a failed drill warns" },
	{ .group = "replication", .verb = "list",
	  .run = cmd_replication_list,
	  .help = "every replicated VM of this host (either role), its "
	  "health and lag\n      (docs/replica-health.md)" },
	{ .group = "cluster", .verb = "create", .pos = { "NAME" },
	  .opts = opt_cluster_create,
	  .synopsis = "--node HOST --node HOST... [--witness ADDR[:PORT]] "
	  "[--token MS]",
	  .starts_job = true, .run = cmd_cluster_create,
	  .help = "form a failover cluster on Corosync of this host and "
	  "trusted peers\n      (each must trust this host too); a witness "
	  "is a corosync-qnetd address\n      (run with -s off, TLS "
	  "off: on a trusted network)" },
	{ .group = "cluster", .verb = "show", .run = cmd_cluster_show,
	  .help = "the cluster's nodes, their states (up, isolated, down, "
	  "paused,\n      quarantined), "
	  "quorum and votes,\n      the witness, the resiliency settings" },
	{ .group = "cluster", .verb = "set", .opts = opt_cluster_set,
	  .synopsis = "[--resiliency-period S] [--resiliency-level "
	  "always-isolated|isolated-if-storage-alive]\n      "
	  "[--quarantine-threshold N] [--quarantine-duration S]\n      "
	  "[--balance-threshold PCT] [--balance-by memory|cpu] "
	  "[--balance-interval S]",
	  .run = cmd_cluster_set,
	  .help = "compute resiliency: a node that leaves the membership is "
	  "isolated, its VMs\n      left running, for S seconds (default "
	  "240; 0: fail over at once) before\n      they fail over; with "
	  "isolated-if-storage-alive (the default) a node\n      whose "
	  "storage heartbeat stopped too is dead, and fails over at once;\n"
	  "      a node isolated N times (default 3; 0: never) within an "
	  "hour is\n      quarantined for S seconds (default 7200): drained, "
	  "it takes no VMs;\n      load balancing (default off, 0): every S "
	  "seconds (default 1800) a node\n      whose running VMs' memory "
	  "(or vCPUs over its cores) is above PCT %\n      of its own has VMs "
	  "live-moved to the least loaded nodes" },
	{ .group = "cluster", .verb = "maintain", .opts = opt_cluster_maintain,
	  .synopsis = "--run NAME", .starts_job = true,
	  .run = cmd_cluster_maintain,
	  .help = "rolling maintenance: each node in turn (this one last) "
	  "drained, NAME run\n      there (an executable file in its "
	  "--maintenance-dir), back healthy,\n      resumed with its VMs; "
	  "stops at the first failure, no VM ever down;\n      refused "
	  "while a node is down or paused" },
	{ .group = "cluster", .verb = "balance", .opts = opt_cluster_balance,
	  .synopsis = "[--dry-run] [--threshold PCT]",
	  .run = cmd_cluster_balance,
	  .help = "balance now: the moves that bring nodes under PCT % "
	  "(default the\n      --balance-threshold setting); --dry-run only "
	  "shows them" },
	{ .group = "cluster", .verb = "destroy", .starts_job = true,
	  .run = cmd_cluster_destroy,
	  .help = "stop Corosync and forget the cluster on every node (all "
	  "must answer)" },
	{ .group = "vm", .verb = "ha enable", .pos = { "NAME" },
	  .opts = opt_vm_ha, .run = cmd_vm_ha,
	  .synopsis = "[--priority high|medium|low|no-auto-start] "
	  "[--preferred N1,N2]\n      [--anti-affinity GROUP] "
	  "[--failback never|immediate|'window HH-HH']\n      "
	  "[--resiliency-period S]",
	  .help = "make a clustered VM highly available: when its node dies "
	  "it restarts\n      on another (priority order, default medium; "
	  "preferred owners first,\n      else the most free memory; VMs of "
	  "one anti-affinity group kept apart\n      where possible), once "
	  "its lease shows the dead node no longer runs it;\n      every "
	  "disk must be on one shared pool; with a failback other than\n"
	  "      never, a VM so restarted moves back live to its first "
	  "preferred\n      node once that node is back (at once, or only "
	  "inside the window)" },
	{ .group = "vm", .verb = "ha disable", .pos = { "NAME" },
	  .run = cmd_vm_ha, .help = "the VM is no longer restarted elsewhere" },
	{ .group = "cluster", .verb = "node add", .pos = { "HOST" },
	  .starts_job = true, .run = cmd_cluster_node,
	  .help = "add a trusted peer to the cluster (from a node with "
	  "quorum)" },
	{ .group = "cluster", .verb = "node evict", .pos = { "HOST" },
	  .starts_job = true, .run = cmd_cluster_node,
	  .help = "take a node out of the cluster, dead or alive (from "
	  "another node with quorum)" },
	{ .group = "cluster", .verb = "node drain", .pos = { "NODE" },
	  .run = cmd_cluster_node_op,
	  .help = "pause a node and live-move its running VMs away (HA "
	  "priority order,\n      each to the node with the most free "
	  "memory, within max-migrations);\n      refused, nothing moved, "
	  "when the others lack room; waits for the\n      drain unless "
	  "--no-wait (exit 1 when a VM could not move)" },
	{ .group = "cluster", .verb = "node resume", .pos = { "NODE" },
	  .opts = opt_cluster_resume, .synopsis = "[--failback]",
	  .run = cmd_cluster_node_op,
	  .help = "a paused node takes VMs again; --failback: the VMs drained "
	  "off it move\n      back (refused while it is quarantined)" },
	{ .group = "cluster", .verb = "node clear-quarantine", .pos = { "NODE" },
	  .run = cmd_cluster_node_op,
	  .help = "end a node's quarantine early; it stays paused until "
	  "resumed" },
	{ .group = "replica", .verb = "server enable",
	  .opts = opt_replica_server,
	  .synopsis = "--allow PEER=POOL... | --any --pool POOL",
	  .run = cmd_replica_server,
	  .help = "make this host a replica server: the trusted peers that "
	  "may replicate\n      here, each into its pool (or any trusted "
	  "peer into POOL)" },
	{ .group = "replica", .verb = "server show", .run = cmd_replica_server,
	  .help = "whether this host accepts replication, from whom, into "
	  "which pools" },
	{ .group = "replica", .verb = "server disable",
	  .run = cmd_replica_server,
	  .help = "accept no more replication (replicas here stay)" },
	{ .group = "vm", .verb = "delete", .pos = { "NAME" },
	  .opts = opt_vm_delete, .synopsis = "[--keep-disks]",
	  .starts_job = true, .run = cmd_vm_delete,
	  .help = "delete a VM that is off, and the disks it made; its "
	  "replication goes too (the replica stays on its server)" },
	{ .group = "vm", .verb = "export", .pos = { "NAME", "DIR" },
	  .starts_job = true, .run = cmd_vm_export,
	  .help = "write a VM that is off or saved to a new directory DIR: "
	  "vm.json, its disks" },
	{ .group = "vm", .verb = "import", .pos = { "DIR" },
	  .opts = opt_vm_import, .starts_job = true, .run = cmd_vm_import,
	  .synopsis = "[--copy [--pool POOL] | --register] [--name NEW] "
	  "[--new-id]",
	  .help = "copy an export into a pool (default), or register its "
	  "files in place" },
	{ .group = "vm", .verb = "import-libvirt", .pos = { "DOMAIN.xml" },
	  .opts = opt_vm_import_libvirt, .starts_job = true,
	  .run = cmd_vm_import_libvirt,
	  .synopsis = "[--copy [--pool POOL] | --register] [--name NEW]",
	  .help = "make a libvirt domain (virsh dumpxml) a tern VM, off: "
	  "its disks copied\n      into POOL (default) or registered in "
	  "place (each must be in a pool);\n      virtio disks and NICs, "
	  "kernel or disk boot; what tern provides its own\n      way is "
	  "listed as left out, anything else that changes what the guest\n"
	  "      sees (sata disks, hostdev, ...) is refused, all of it "
	  "listed" },
	{ .group = "vm", .verb = "move", .pos = { "NAME" },
	  .opts = opt_vm_move, .starts_job = true, .run = cmd_vm_move,
	  .synopsis = "--to PEER [--copy-storage] [--pool POOL | --disk "
	  "vdX=POOL...]",
	  .help = "move a VM to the peer host PEER: live when it runs, over "
	  "shared storage\n      (a pool with the same identity there) or "
	  "shared-nothing (its disks are\n      copied into POOL there; "
	  "--copy-storage forces that), as a record when\n      off or "
	  "saved on shared storage" },
	{ .group = "vm", .verb = "move-storage", .pos = { "NAME" },
	  .opts = opt_vm_move_storage, .starts_job = true,
	  .run = cmd_vm_move_storage,
	  .synopsis = "--to POOL|DIR | --disk DISK=POOL|DIR...",
	  .help = "move a VM's disks to another pool (or a directory in "
	  "one) on this host:\n      live when it runs (QEMU mirrors, then "
	  "switches), a copy when off or\n      saved (its saved state "
	  "too); the old files go once the new ones are in use" },
	{ .group = "vm", .verb = "console", .pos = { "NAME" },
	  .opts = opt_follow, .synopsis = "[--follow]", .run = cmd_vm_console,
	  .help = "print a VM's serial console log; --follow keeps on" },
	{ .group = "vm", .verb = "screenshot", .pos = { "NAME", "FILE" },
	  .opts = opt_vm_screenshot, .synopsis = "[--on HOST]",
	  .run = cmd_vm_screenshot,
	  .help = "save a running VM's screen as a PNG image in FILE; --on: "
	  "a VM of that\n      fleet host, through this ternd" },
	{ .group = "vm", .verb = "vnc", .pos = { "NAME" }, .opts = opt_vm_vnc,
	  .synopsis = "[--listen 127.0.0.1:PORT] [--on HOST]",
	  .run = cmd_vm_vnc,
	  .help = "say where a running VM's VNC server is; --listen "
	  "forwards that local port\n      to it through ternd (one VNC "
	  "client at a time, until Ctrl-C); --on: a VM of\n      that fleet "
	  "host, through this ternd" },
	{ .group = "backup", .verb = "create", .pos = { "VM" },
	  .opts = opt_backup_create, .starts_job = true,
	  .synopsis = "--to REPO [--full] [--quiesce]",
	  .run = cmd_backup_create,
	  .help = "take a point of a running VM's disks into repository "
	  "REPO (a directory;\n      made a repository when empty): "
	  "the first full, then incremental;\n      --quiesce freezes the "
	  "guest's file systems for the instant of the point" },
	{ .group = "backup", .verb = "list", .pos = { "REPO" },
	  .opts = opt_backup_list, .synopsis = "[--vm NAME]",
	  .run = cmd_backup_list,
	  .help = "list the points in a repository, oldest first" },
	{ .group = "backup", .verb = "verify", .pos = { "REPO" },
	  .opts = opt_backup_verify, .starts_job = true,
	  .synopsis = "[--point P] [--vm NAME]", .run = cmd_backup_verify,
	  .help = "check every file (sha256) and block (its map) of the "
	  "points;\n      the first mismatch is named" },
	{ .group = "backup", .verb = "prune", .pos = { "REPO" },
	  .opts = opt_backup_prune, .starts_job = true,
	  .synopsis = "--vm NAME --keep N", .run = cmd_backup_prune,
	  .help = "keep a VM's newest N points: the oldest kept becomes a "
	  "full point\n      (its chain merged), the older ones are deleted" },
	{ .group = "backup", .verb = "restore", .pos = { "REPO" },
	  .opts = opt_backup_restore, .starts_job = true,
	  .synopsis = "--point P [--vm NAME] [--name NEW] [--pool POOL]",
	  .run = cmd_backup_restore,
	  .help = "bring a point back as a VM (off): under its own name "
	  "and UUID when\n      that VM is not on this host, else as a "
	  "copy with --name NEW" },
	{ .group = "cluster", .verb = "validate",
	  .opts = opt_cluster_validate, .starts_job = true,
	  .synopsis = "[--node NAME]...", .run = cmd_cluster_validate,
	  .help = "check that this host and the nodes (default: the other "
	  "nodes of its\n      cluster) can host each other's VMs: versions, "
	  "machine types, CPUs,\n      memory, pools (the same storage), "
	  "switches, clocks; exit 1 on errors" },
	{ .group = "job", .verb = "list", .opts = opt_job_list,
	  .synopsis = "[--vm NAME] [--active]", .run = cmd_job_list,
	  .help = "list recent jobs, newest first" },
	{ .group = "job", .verb = "show", .pos = { "ID" },
	  .run = cmd_job_show,
	  .help = "show a job with its progress, rate, ETA and error" },
	{ .group = "job", .verb = "watch", .pos = { "ID" },
	  .run = cmd_job_watch,
	  .help = "wait for a job to end, with progress" },
	{ .group = "job", .verb = "cancel", .pos = { "ID" },
	  .run = cmd_job_cancel, .help = "ask a job to stop" },
	{ .group = "events", .opts = opt_events, .run = cmd_events,
	  .synopsis = "[--follow] [--vm NAME] [--limit N]",
	  .help = "print the event log, oldest first; --follow keeps on" },
};

int
cli_usage(struct err *err, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(err, CLI_EUSAGE, "%s", msg);
}

static const char *
cmd_name(const struct cli_cmd *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->group, c->verb ? " " : "",
	    c->verb ? c->verb : "");
	return buf;
}

static void
usage_cmd(FILE *f, const struct cli_cmd *c)
{
	char name[64];

	fprintf(f, "%s", cmd_name(c, name, sizeof(name)));
	for (int i = 0; i < CLI_MAX_POS && c->pos[i]; i++)
		fprintf(f, " %s", c->pos[i]);
	fprintf(f, "%s%s\n", c->synopsis ? " " : "",
	    c->synopsis ? c->synopsis : "");
}

static void
usage_full(FILE *f)
{
	fprintf(f, "usage: tern [OPTIONS] COMMAND [ARGS]\n\n"
	    "tern drives ternd, the VM host daemon, over its local socket "
	    "or over HTTPS.\n\nOptions (before the command):\n");
	for (int i = 0; i < G__COUNT; i++) {
		fprintf(f, "  --%s", cli_globals[i].name);
		if (cli_globals[i].arg)
			fprintf(f, " %s", cli_globals[i].arg);
		if (cli_globals[i].env)
			fprintf(f, "  (or $%s)", cli_globals[i].env);
		fprintf(f, "\n      %s\n", cli_globals[i].help);
	}
	fprintf(f, "\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++) {
		fprintf(f, "  ");
		usage_cmd(f, &cli_cmds[i]);
		fprintf(f, "      %s\n", cli_cmds[i].help);
	}
	fprintf(f, "\nSIZE is bytes or a number with K, M, G or T (512M, "
	    "1G).  Jobs (vm create, start,\nstop, pause, resume, delete, "
	    "shutdown, save, quiesce, export, import, move,\nmove-storage) are "
	    "waited for unless --no-wait; Ctrl-C stops waiting, not\nthe job.  "
	    "Exit status: 0 done, 1 the operation failed, 2 usage error.\n"
	    "More, with examples: man tern; the daemon: man ternd, "
	    "man ternd.conf.\n");
}

/* "tern __commands": the command table for the bash completion and the
 * man page's test, so neither keeps a copy of it.  One line per command:
 * its words, a tab, its positionals separated by spaces, then a tab before
 * each option, "--name" or "--name=ARG"; the first line, "-", holds the
 * global options.  Not in --help: a format for tools, not for people. */
static void
commands_print(FILE *f)
{
	char name[64];

	fprintf(f, "-\t");
	for (int i = 0; i < G__COUNT; i++)
		fprintf(f, "\t--%s%s%s", cli_globals[i].name,
		    cli_globals[i].arg ? "=" : "",
		    cli_globals[i].arg ? cli_globals[i].arg : "");
	fprintf(f, "\n");
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++) {
		const struct cli_cmd *c = &cli_cmds[i];

		fprintf(f, "%s\t", cmd_name(c, name, sizeof(name)));
		for (int k = 0; k < CLI_MAX_POS && c->pos[k]; k++)
			fprintf(f, "%s%s", k ? " " : "", c->pos[k]);
		for (const struct cli_opt *o = c->opts; o && o->name; o++)
			fprintf(f, "\t--%s%s%s", o->name, o->arg ? "=" : "",
			    o->arg ? o->arg : "");
		fprintf(f, "%s\t--json\t--help\n",
		    c->starts_job ? "\t--no-wait" : "");
	}
}

const char *
cli_args_get(const struct cli_args *a, const char *name)
{
	const char *v = NULL;

	for (int i = 0; i < a->nopt; i++)
		if (streq(a->opt[i].name, name))
			v = a->opt[i].value;
	return v;
}

static const struct cli_opt *
opt_find(const struct cli_cmd *c, const char *name, size_t len)
{
	for (const struct cli_opt *o = c->opts; o && o->name; o++)
		if (strlen(o->name) == len && !strncmp(o->name, name, len))
			return o;
	return NULL;
}

/* An option from the command's own table, and its value. */
static int
args_opt_own(struct cli *cli, int argc, char **argv, int *i,
    struct cli_args *a, struct err *err)
{
	const char *s = argv[*i], *eq = strchr(s, '=');
	size_t len = eq ? (size_t)(eq - s) : strlen(s);
	const struct cli_opt *o = NULL;
	char name[64];

	if (s[1] == '-')
		o = opt_find(cli->cmd, s + 2, len - 2);
	if (!o)
		return cli_usage(err, "unknown option '%.*s' for '%s'",
		    (int)len, s, cmd_name(cli->cmd, name, sizeof(name)));
	if (!o->arg && eq)
		return cli_usage(err, "option --%s takes no value", o->name);
	if (o->arg && !eq &&
	    (*i + 1 >= argc || !strncmp(argv[*i + 1], "--", 2)))
		return cli_usage(err, "option --%s needs a value (%s)",
		    o->name, o->arg);
	if (!o->repeat && cli_args_get(a, o->name))
		return cli_usage(err, "option --%s given twice", o->name);
	if (a->nopt == CLI_MAX_OPTS)
		return cli_usage(err, "too many options");
	a->opt[a->nopt].name = o->name;
	a->opt[a->nopt++].value = !o->arg ? "" : eq ? eq + 1 : argv[++*i];
	return 0;
}

/* One option at argv[*i] (and its value, which may follow): first those
 * every command takes (--help, --json, --no-wait for jobs). */
static int
args_opt(struct cli *cli, int argc, char **argv, int *i, struct cli_args *a,
    struct err *err)
{
	const char *s = argv[*i];

	if (streq(s, "-h") || streq(s, "--help"))
		a->help = true;
	else if (streq(s, "--json"))
		cli->json = true;
	else if (streq(s, "--no-wait") && cli->cmd->starts_job)
		cli->no_wait = true;
	else
		return args_opt_own(cli, argc, argv, i, a, err);
	return 0;
}

/* The command's own arguments: options and positionals in any order, "--"
 * ending the options.  A positional named "[X]" may be left out. */
static int
args_parse(struct cli *cli, int argc, char **argv, struct cli_args *a,
    struct err *err)
{
	const struct cli_cmd *c = cli->cmd;
	bool opts_done = false;
	int want = 0, r;

	while (want < CLI_MAX_POS && c->pos[want])
		want++;
	for (int i = 0; i < argc; i++) {
		if (!opts_done && streq(argv[i], "--")) {
			opts_done = true;
		} else if (!opts_done && argv[i][0] == '-' && argv[i][1]) {
			if ((r = args_opt(cli, argc, argv, &i, a, err)) < 0)
				return r;
		} else if (a->npos < want) {
			a->pos[a->npos++] = argv[i];
		} else {
			return cli_usage(err, "unexpected argument '%s'",
			    argv[i]);
		}
	}
	if (!a->help && a->npos < want && c->pos[a->npos][0] != '[')
		return cli_usage(err, "missing argument %s", c->pos[a->npos]);
	return 0;
}

static void
verbs_list(const char *group, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds) && n < len; i++)
		if (streq(cli_cmds[i].group, group))
			n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "",
			    cli_cmds[i].verb);
}

/* The table entry for argv ("vm start ..."); *ret_used says how many words
 * named it.  Sets *ret_help for "help", "--help" or "GROUP --help". */
static int
cmd_find(int argc, char **argv, const struct cli_cmd **ret_cmd,
    int *ret_used, bool *ret_help, struct err *err)
{
	const char *g = argc > 0 ? argv[0] : NULL;
	const char *v = argc > 1 ? argv[1] : NULL;
	_cleanup_free_ char *v2 = argc > 2 ? xasprintf("%s %s", argv[1],
	    argv[2]) : NULL;
	char verbs[512];
	bool known = false;

	if (!g)
		return cli_usage(err, "no command given");
	if (streq(g, "help") || streq(v, "--help") || streq(v, "-h"))
		return *ret_help = true, 0;
	/* A verb of two words ("kvp set", "failover test") takes two
	 * arguments and wins over one word ("failover NAME"). */
	for (size_t i = 0; v2 && i < ARRAY_SIZE(cli_cmds); i++) {
		const struct cli_cmd *c = &cli_cmds[i];

		if (streq(c->group, g) && c->verb && strchr(c->verb, ' ') &&
		    streq(c->verb, v2)) {
			*ret_cmd = c;
			*ret_used = 3;
			return 0;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++) {
		const struct cli_cmd *c = &cli_cmds[i];

		if (!streq(c->group, g))
			continue;
		known = true;
		if (!c->verb || streq(c->verb, v)) {
			*ret_cmd = c;
			*ret_used = c->verb ? 2 : 1;
			return 0;
		}
	}
	if (!known)
		return cli_usage(err, "unknown command '%s'", g);
	verbs_list(g, verbs, sizeof(verbs));
	if (!v || v[0] == '-')
		return cli_usage(err, "'%s' needs a subcommand: %s", g, verbs);
	return cli_usage(err, "unknown command '%s %s' (try %s)", g, v, verbs);
}

/* Global options, before the command.  ret_next is the first word that is
 * not one. */
static int
globals_parse(int argc, char **argv, const char **val, int *ret_next,
    struct err *err)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *s = argv[i], *eq = strchr(s, '=');
		size_t len = eq ? (size_t)(eq - s) : strlen(s);
		int g = streq(s, "-h") ? G_HELP : -1;

		for (int k = 0; k < G__COUNT && g < 0 && s[1] == '-'; k++)
			if (strlen(cli_globals[k].name) == len - 2 &&
			    !strncmp(s + 2, cli_globals[k].name, len - 2))
				g = k;
		if (g < 0)
			return cli_usage(err, "unknown option '%.*s'", (int)len,
			    s);
		if (val[g])
			return cli_usage(err, "option %.*s given twice",
			    (int)len, s);
		if (!cli_globals[g].arg && eq)
			return cli_usage(err, "option %.*s takes no value",
			    (int)len, s);
		if (cli_globals[g].arg && !eq && i + 1 >= argc)
			return cli_usage(err, "option %s needs a value (%s)", s,
			    cli_globals[g].arg);
		val[g] = !cli_globals[g].arg ? "" : eq ? eq + 1 : argv[++i];
	}
	*ret_next = i;
	return 0;
}

static const char *
env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

/* Where to connect, from options, then the environment, then defaults.
 * An explicit --socket beats TERN_HOST, and --host beats TERN_SOCKET. */
static int
globals_apply(struct cli *cli, const char **val, struct http_conf *conf,
    struct err *err)
{
	char pin[TLS_PIN_LEN];

	if (val[G_SOCKET] && val[G_HOST])
		return cli_usage(err, "--socket and --host exclude each other");
	conf->url = val[G_HOST];
	if (!conf->url && !val[G_SOCKET])
		conf->url = env_or("TERN_HOST", NULL);
	conf->socket_path = val[G_SOCKET] ?: env_or("TERN_SOCKET",
	    DEFAULT_SOCKET);
	conf->fingerprint = val[G_FINGERPRINT] ?: env_or("TERN_FINGERPRINT",
	    NULL);
	conf->cert = val[G_CERT] ?: env_or("TERN_CERT", DEFAULT_CERT);
	conf->key = val[G_KEY] ?: env_or("TERN_KEY", DEFAULT_KEY);
	cli->json = val[G_JSON] != NULL;
	cli->no_wait = val[G_NO_WAIT] != NULL;
	cli->local = conf->url == NULL;
	if (cli->local)
		return 0;
	if (strncmp(conf->url, "https://", 8) != 0 || !conf->url[8])
		return cli_usage(err, "invalid --host '%s': expected "
		    "https://ADDR:PORT", conf->url);
	if (!conf->fingerprint)
		return cli_usage(err, "--host needs --fingerprint sha256:HEX "
		    "(run 'tern host info' on that host)");
	if (tls_pin_from_fingerprint(conf->fingerprint, pin, sizeof(pin)))
		return cli_usage(err, "invalid fingerprint '%s': expected "
		    "sha256: and 64 hex digits", conf->fingerprint);
	return 0;
}

/* The whole command line into cli, conf and a.  Sets *ret_done when it
 * has already answered (--help, --version). */
static int
cli_parse(struct cli *cli, struct http_conf *conf, int argc, char **argv,
    struct cli_args *a, bool *ret_done, struct err *err)
{
	const char *val[G__COUNT] = { 0 };
	bool help = false;
	int next = 0, used = 0, r;

	r = globals_parse(argc, argv, val, &next, err);
	if (r == 0 && next < argc && streq(argv[next], "__commands")) {
		commands_print(stdout);
		return *ret_done = true, 0;
	}
	if (r == 0 && !val[G_HELP] && !val[G_VERSION])
		r = globals_apply(cli, val, conf, err);
	if (r == 0 && !val[G_HELP] && !val[G_VERSION])
		r = cmd_find(argc - next, argv + next, &cli->cmd, &used, &help,
		    err);
	if (r == 0 && cli->cmd && !help)
		r = args_parse(cli, argc - next - used, argv + next + used, a,
		    err);
	if (r < 0)
		return r;
	if (val[G_VERSION] && !val[G_HELP]) {
		printf("tern %s\n", TERN_VERSION);
		*ret_done = true;
	} else if (val[G_HELP] || help || a->help) {
		usage_full(stdout);
		*ret_done = true;
	}
	return 0;
}

/* "tern: <message>", plus the command's usage line for a usage error. */
static int
cli_report(const struct cli *cli, int r, const struct err *err)
{
	if (r >= 0)
		return CLI_EXIT_OK;
	fprintf(stderr, "tern: %s\n", err_is_set(err) ? err->msg :
	    strerror(-r));
	if (r != CLI_EUSAGE)
		return CLI_EXIT_FAIL;
	if (cli->cmd) {
		fprintf(stderr, "usage: tern ");
		usage_cmd(stderr, cli->cmd);
	}
	fprintf(stderr, "Try 'tern --help' for all commands and options.\n");
	return CLI_EXIT_USAGE;
}

int
cli_main(int argc, char **argv)
{
	struct cli cli = { 0 };
	struct http_conf conf = {
		.user_agent = "tern/" TERN_VERSION,
		.interrupted = &cli_interrupted,
	};
	struct cli_args a = { 0 };
	struct err err = { 0 };
	bool done = false;
	int r;

	r = cli_parse(&cli, &conf, argc, argv, &a, &done, &err);
	if (r == 0 && !done)
		r = http_new(&conf, &cli.http, &err);
	if (r == 0 && !done)
		r = cli.cmd->run(&cli, &a, &err);
	cli.http = http_free(cli.http);
	fflush(stdout);
	return cli_report(&cli, r, &err);
}

int
cli_parse_u64(const char *what, const char *s, uint64_t min, uint64_t max,
    uint64_t *ret, struct err *err)
{
	uint64_t v = 0;

	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return cli_usage(err, "invalid %s '%s': expected a "
			    "whole number", what, s);
		v = v * 10 + (*p - '0');
	}
	if (!*s)
		return cli_usage(err, "invalid %s '': expected a whole number",
		    what);
	if (v < min || v > max)
		return cli_usage(err, "invalid %s '%s': must be between %llu "
		    "and %llu", what, s, (unsigned long long)min,
		    (unsigned long long)max);
	*ret = v;
	return 0;
}

char *
cli_path(struct cli *cli, const char *prefix, const char *name,
    const char *suffix)
{
	_cleanup_free_ char *e = http_escape(cli->http, name);

	return xasprintf("%s%s%s", prefix, e, suffix ? suffix : "");
}

char *
cli_file_arg(struct cli *cli, const char *path)
{
	char buf[PATH_MAX];
	_cleanup_free_ char *cwd = NULL;

	if (!cli->local || !*path)
		return xstrdup(path);
	if (realpath(path, buf))
		return xstrdup(buf);
	if (path[0] == '/')
		return xstrdup(path);
	cwd = getcwd(NULL, 0);
	return cwd ? xasprintf("%s/%s", cwd, path) : xstrdup(path);
}

int
cli_json_set_str(json_t *obj, const char *key, const char *s,
    struct err *err)
{
	json_t *v = json_string(s);

	if (!v)
		return cli_usage(err, "'%s' is not valid UTF-8", s);
	json_object_set_new(obj, key, v);
	return 0;
}
