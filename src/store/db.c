/* db.c - opening the SQLite database, schema migrations, transactions and
 * the small statement helpers the row files share.  Never logs above debug.
 *
 * Schema versions live in PRAGMA user_version.  Migration N takes a file at
 * version N-1 to N; they run in order inside one transaction at open, so a
 * crash mid-migration leaves the old version.  A file newer than this
 * binary is refused, never downgraded. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "util.h"

/* Never edit an applied
 * migration, add a new one. */
static const char *const migrations[] = {
	NULL,
	/* 1: the first schema */
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE pools(name TEXT PRIMARY KEY, a TEXT NOT NULL UNIQUE,"
	"  b TEXT);"
	"CREATE TABLE switches(name TEXT PRIMARY KEY, a TEXT NOT NULL UNIQUE,"
	"  b TEXT);"
	"CREATE TABLE peers(name TEXT PRIMARY KEY, a TEXT NOT NULL,"
	"  b TEXT UNIQUE);"
	"CREATE TABLE vms(uuid TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	"  cpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL,"
	"  cpu_compat INTEGER NOT NULL, kernel TEXT, initrd TEXT,"
	"  cmdline TEXT, state TEXT NOT NULL, pid INTEGER NOT NULL,"
	"  pid_start INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
	"  started_ms INTEGER NOT NULL);"
	"CREATE TABLE disks(vm_uuid TEXT NOT NULL REFERENCES vms(uuid)"
	"  ON DELETE CASCADE, idx INTEGER NOT NULL, name TEXT NOT NULL,"
	"  path TEXT NOT NULL UNIQUE, pool TEXT, size_bytes INTEGER NOT NULL,"
	"  owned INTEGER NOT NULL, PRIMARY KEY(vm_uuid, idx));"
	"CREATE TABLE nics(vm_uuid TEXT NOT NULL REFERENCES vms(uuid)"
	"  ON DELETE CASCADE, idx INTEGER NOT NULL, mac TEXT NOT NULL UNIQUE,"
	"  switch TEXT NOT NULL, PRIMARY KEY(vm_uuid, idx));"
	"CREATE TABLE jobs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  type TEXT NOT NULL, vm_uuid TEXT, vm_name TEXT, state TEXT NOT NULL,"
	"  phase TEXT, done INTEGER NOT NULL, total INTEGER NOT NULL,"
	"  unit TEXT NOT NULL, rate REAL NOT NULL, eta_s INTEGER NOT NULL,"
	"  error TEXT, details TEXT, created_ms INTEGER NOT NULL,"
	"  started_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL);"
	"CREATE INDEX jobs_active ON jobs(ended_ms);"
	"CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time_ms INTEGER NOT NULL, severity TEXT NOT NULL, vm TEXT,"
	"  job INTEGER, message TEXT NOT NULL);"
	"CREATE INDEX events_vm ON events(vm, id);",
	/* 2: saved state, per-VM guest services, host->guest key/values */
	"ALTER TABLE vms ADD COLUMN state_file TEXT;"
	"ALTER TABLE vms ADD COLUMN services TEXT;"
	"ALTER TABLE vms ADD COLUMN kvp TEXT;",
	/* 3: the machine type is the VM's; VMs made before ran pc-q35-7.2 */
	"ALTER TABLE vms ADD COLUMN machine TEXT NOT NULL"
	"  DEFAULT 'pc-q35-7.2';",
	/* 4: a job names its subject and how it claims it (src/job); jobs
	 * recorded before acted on their VM alone, or on the host */
	"ALTER TABLE jobs ADD COLUMN subject TEXT;"
	"ALTER TABLE jobs ADD COLUMN claim TEXT;"
	"UPDATE jobs SET subject = 'vm:' || vm_uuid, claim = 'exclusive'"
	"  WHERE vm_uuid IS NOT NULL;"
	"UPDATE jobs SET subject = 'host', claim = 'shared'"
	"  WHERE vm_uuid IS NULL;",
	/* 5: reference points of change tracking (src/track), one row per
	 * point and disk */
	"CREATE TABLE refpoints(vm_uuid TEXT NOT NULL REFERENCES vms(uuid)"
	"  ON DELETE CASCADE, name TEXT NOT NULL, disk TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL, gen INTEGER NOT NULL,"
	"  complete INTEGER NOT NULL, reason TEXT, owner TEXT NOT NULL,"
	"  target TEXT, point TEXT, map TEXT,"
	"  PRIMARY KEY(vm_uuid, name, disk));",
	/* 6: checkpoints (src/checkpoint): a tree per VM; images is JSON
	 * {"vda": "/path/of/the/frozen.qcow2"} */
	"CREATE TABLE checkpoints(vm_uuid TEXT NOT NULL REFERENCES vms(uuid)"
	"  ON DELETE CASCADE, name TEXT NOT NULL, parent TEXT,"
	"  created_ms INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  consistency TEXT NOT NULL, state_file TEXT, images TEXT NOT NULL,"
	"  status TEXT NOT NULL, current INTEGER NOT NULL,"
	"  PRIMARY KEY(vm_uuid, name));",
	/* 7: replication relationships (src/replica), one per VM on each
	 * side; settings and stats are JSON objects */
	"CREATE TABLE replications(vm_uuid TEXT PRIMARY KEY REFERENCES"
	"  vms(uuid) ON DELETE CASCADE, role TEXT NOT NULL,"
	"  peer TEXT NOT NULL, settings TEXT NOT NULL, state TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, stats TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL);",
	/* 8: a replica's recovery points (src/replica/points.c): a JSON
	 * array, oldest first, of {seq, time_ms, app_consistent, disks:
	 * {DISK: image path}} */
	"ALTER TABLE replications ADD COLUMN points TEXT NOT NULL"
	"  DEFAULT '[]';",
	/* 9: failover (src/failover).  vms.hold: why a plain start is
	 * refused (the VM failed over to another host), NULL: it is not;
	 * replications.failover, .test, .drill: JSON objects of a
	 * relationship's failover, test failover and drills, NULL: none */
	"ALTER TABLE vms ADD COLUMN hold TEXT;"
	"ALTER TABLE replications ADD COLUMN failover TEXT;"
	"ALTER TABLE replications ADD COLUMN test TEXT;"
	"ALTER TABLE replications ADD COLUMN drill TEXT;",
	/* 10: real guests (issue 17).  firmware: NULL bios, "uefi"; nvram,
	 * tpm_dir, cloud_init_seed: per-VM files next to disk 0, NULL:
	 * none; boot: "disk,cdrom" order, NULL: the default; cdrom: the
	 * ISO in the CD drive, NULL with has_cdrom: an empty drive */
	"ALTER TABLE vms ADD COLUMN firmware TEXT;"
	"ALTER TABLE vms ADD COLUMN secure_boot INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE vms ADD COLUMN nvram TEXT;"
	"ALTER TABLE vms ADD COLUMN tpm INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE vms ADD COLUMN tpm_dir TEXT;"
	"ALTER TABLE vms ADD COLUMN boot TEXT;"
	"ALTER TABLE vms ADD COLUMN cdrom TEXT;"
	"ALTER TABLE vms ADD COLUMN has_cdrom INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE vms ADD COLUMN cloud_init_seed TEXT;",
	/* 11: the static addresses of a VM's cloud-init network-config
	 * (--cloud-init-net), JSON {"nic0": {"addr", "prefix", "gw", "dns"}},
	 * so the seed can be written again; NULL: none (DHCP) */
	"ALTER TABLE vms ADD COLUMN cloud_init_net TEXT;",
	/* 12: a NIC's VLANs (issue 18): vlan the access VLAN, 0 none;
	 * trunks the tagged ones as text "10-20,30", '' none */
	"ALTER TABLE nics ADD COLUMN vlan INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE nics ADD COLUMN trunks TEXT NOT NULL DEFAULT '';",
	/* 13: a switch's uplinks (issue 18), a row only for a switch that
	 * has some: interface names "eth1,eth2"; bond_mode the bond's of 2
	 * or more ("active-backup"), NULL with one */
	"CREATE TABLE switch_uplinks(name TEXT PRIMARY KEY,"
	"  uplinks TEXT NOT NULL, bond_mode TEXT);",
	/* 14: NIC hot-plug (issue 18): vms.hotplug_ports the PCIe root
	 * ports a VM's QEMU gets for NICs added while it runs, 0 for the
	 * VMs made before (their command line unchanged); nics.port 0 for a
	 * NIC on the root bus, K+1 for one on root port K */
	"ALTER TABLE vms ADD COLUMN hotplug_ports INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE nics ADD COLUMN port INTEGER NOT NULL DEFAULT 0;",
	/* 15: dynamic memory (issue 18): memory_mib is the maximum, min the
	 * balloon's floor, cur its size now, buffer the free share kept in
	 * percent; a fixed VM (every older row) min = cur = memory_mib,
	 * buffer 0 */
	"ALTER TABLE vms ADD COLUMN memory_min_mib INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE vms ADD COLUMN memory_cur_mib INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE vms ADD COLUMN memory_buffer_pct INTEGER NOT NULL"
	" DEFAULT 0;"
	"UPDATE vms SET memory_min_mib=memory_mib, memory_cur_mib=memory_mib;",
};

int
store_sqlite_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
	case SQLITE_READONLY:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

int
store_exec(struct store *st, const char *sql)
{
	return store_sqlite_errno(sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

sqlite3_stmt *
store_prepare(struct store *st, const char *sql)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return NULL;
	return s;
}

void
store_finalizep(sqlite3_stmt **s)
{
	if (*s)
		sqlite3_finalize(*s);
}

int
store_step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	return rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc ? rc : 1);
}

char *
store_col_str(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? xstrdup((const char *)t) : NULL;
}

void
store_bind_str(sqlite3_stmt *s, int idx, const char *v)
{
	if (v)
		sqlite3_bind_text(s, idx, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, idx);
}

static int
store_migrate(struct store *st, struct err *err)
{
	sqlite3_stmt *s = store_prepare(st, "PRAGMA user_version");
	int version = 0, r;

	if (!s)
		return err_set(err, -EIO, "cannot read schema version: %s",
		    sqlite3_errmsg(st->db));
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version > STORE_SCHEMA_VERSION)
		return err_set(err, -EPROTO, "state database has schema "
		    "version %d, newer than this ternd (%d): upgrade ternd",
		    version, STORE_SCHEMA_VERSION);
	if (version == STORE_SCHEMA_VERSION)
		return 0;
	r = store_begin(st);
	for (int v = version + 1; r == 0 && v <= STORE_SCHEMA_VERSION; v++) {
		char pragma[64];

		r = store_exec(st, migrations[v]);
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v);
		if (r == 0)
			r = store_exec(st, pragma);
	}
	if (r < 0) {
		err_set(err, r, "schema migration failed: %s",
		    sqlite3_errmsg(st->db));
		store_rollback(st);
		(void)store_commit(st);
		return r;
	}
	return store_commit(st);
}

int
store_open(const char *path, struct store **ret_st, struct err *err)
{
	struct store *st = xzalloc(sizeof(*st));
	int rc, r;

	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		r = err_set(err, store_sqlite_errno(rc), "cannot open state "
		    "database '%s': %s", path, sqlite3_errstr(rc));
		store_close(st);
		return r;
	}
	sqlite3_busy_timeout(st->db, 2000);
	r = store_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "PRAGMA foreign_keys=ON;");
	if (r < 0) {
		err_set(err, r, "cannot set up state database '%s': %s",
		    path, sqlite3_errmsg(st->db));
		store_close(st);
		return r;
	}
	r = store_migrate(st, err);
	if (r < 0) {
		store_close(st);
		return r;
	}
	*ret_st = st;
	return 0;
}

struct store *
store_close(struct store *st)
{
	if (!st)
		return NULL;
	sqlite3_close_v2(st->db);
	free(st);
	return NULL;
}

int
store_begin(struct store *st)
{
	if (st->tx_depth++ > 0)
		return 0;
	st->tx_failed = false;
	return store_exec(st, "BEGIN IMMEDIATE");
}

int
store_commit(struct store *st)
{
	int r;

	if (st->tx_depth == 0)
		return -EINVAL;
	if (--st->tx_depth > 0)
		return st->tx_failed ? -ECANCELED : 0;
	if (st->tx_failed) {
		(void)store_exec(st, "ROLLBACK");
		return -ECANCELED;
	}
	r = store_exec(st, "COMMIT");
	if (r < 0)
		(void)store_exec(st, "ROLLBACK");
	return r;
}

void
store_rollback(struct store *st)
{
	st->tx_failed = true;
}

int
store_vm_set_text(struct store *st, const char *uuid, const char *column,
    const char *value)
{
	static const char *const columns[] = { "state_file", "services",
		"kvp", "name", "hold", "nvram", "tpm_dir", "cdrom",
		"cloud_init_seed", "cloud_init_net", NULL };
	_cleanup_free_ char *sql = NULL;
	bool ok = false;

	for (size_t i = 0; columns[i]; i++)
		ok |= streq(columns[i], column);
	if (!ok)
		return -EINVAL;
	sql = xasprintf("UPDATE vms SET %s=? WHERE uuid=?", column);
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st, sql);
	if (!s)
		return -EIO;
	store_bind_str(s, 1, value);
	store_bind_str(s, 2, uuid);
	int r = store_step_done(s);
	if (r == 0 && sqlite3_changes(st->db) == 0)
		return -ENOENT;
	return r;
}

int
store_meta_get(struct store *st, const char *key, char **ret_value)
{
	_cleanup_stmt_ sqlite3_stmt *s =
	    store_prepare(st, "SELECT value FROM meta WHERE key=?");

	if (!s)
		return -EIO;
	store_bind_str(s, 1, key);
	if (sqlite3_step(s) != SQLITE_ROW)
		return -ENOENT;
	*ret_value = store_col_str(s, 0);
	return 0;
}

int
store_meta_set(struct store *st, const char *key, const char *value)
{
	_cleanup_stmt_ sqlite3_stmt *s = store_prepare(st,
	    "INSERT INTO meta(key, value) VALUES(?, ?) "
	    "ON CONFLICT(key) DO UPDATE SET value=excluded.value");

	if (!s)
		return -EIO;
	store_bind_str(s, 1, key);
	store_bind_str(s, 2, value);
	return store_step_done(s);
}

int
store_meta_delete(struct store *st, const char *key)
{
	_cleanup_stmt_ sqlite3_stmt *s =
	    store_prepare(st, "DELETE FROM meta WHERE key=?");

	if (!s)
		return -EIO;
	store_bind_str(s, 1, key);
	return store_step_done(s);
}
