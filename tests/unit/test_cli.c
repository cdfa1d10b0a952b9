/* test_cli.c - unit tests for tern, the command-line client.  cli_main()
 * runs in a forked child with its stdout and stderr captured, against
 * fake_ternd: a STAND-IN FOR ternd, not ternd.  It answers canned HTTP/1.1
 * responses by "METHOD TARGET" on a unix socket in a temporary directory
 * and records what it was asked; it checks nothing itself. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "http.h"
#include "print.h"
#include "test.h"

#define FAKE_MAX_ROUTES 16
#define FAKE_MAX_BODIES 4

/* One canned answer: bodies are given in turn, the last one repeats. */
struct fake_route {
	char target[256];		/* "GET /v1/jobs/17", query included */
	int status;
	const char *bodies[FAKE_MAX_BODIES];
	int nbodies;
	int hits;
};

static struct {
	pthread_mutex_t lock;
	pthread_t thread;
	int fd;
	char dir[64];
	char sock[100];
	struct fake_route routes[FAKE_MAX_ROUTES];
	int nroutes;
	char log[16384];		/* "METHOD TARGET\n" for each request */
	char body[16384];		/* the last POST's body */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

/* What a run of cli_main() printed and returned. */
struct run {
	int rc;
	char out[65536];
	char err[16384];
};

static void
fake_reset(void)
{
	pthread_mutex_lock(&fake.lock);
	fake.nroutes = 0;
	fake.log[0] = '\0';
	fake.body[0] = '\0';
	pthread_mutex_unlock(&fake.lock);
}

/* Answer target with status and the bodies that follow, up to NULL. */
static void
fake_route(const char *target, int status, ...)
{
	struct fake_route *r;
	va_list ap;

	pthread_mutex_lock(&fake.lock);
	r = &fake.routes[fake.nroutes++];
	memset(r, 0, sizeof(*r));
	snprintf(r->target, sizeof(r->target), "%s", target);
	r->status = status;
	va_start(ap, status);
	for (const char *b; (b = va_arg(ap, const char *));)
		if (r->nbodies < FAKE_MAX_BODIES)
			r->bodies[r->nbodies++] = b;
	va_end(ap);
	pthread_mutex_unlock(&fake.lock);
}

/* Log the request (and a POST's body), then answer from the first route for
 * target, or 404. */
static void
fake_answer(int c, const char *target, const char *body)
{
	const char *answer = "{\"error\":{\"code\":\"not_found\","
	    "\"message\":\"fake ternd has no route for this\"}}";
	char head[256];
	int status = 404, n;

	pthread_mutex_lock(&fake.lock);
	strncat(fake.log, target, sizeof(fake.log) - strlen(fake.log) - 2);
	strcat(fake.log, "\n");
	if (strncmp(target, "POST ", 5) == 0 ||
	    strncmp(target, "PUT ", 4) == 0)
		snprintf(fake.body, sizeof(fake.body), "%s", body);
	for (int i = 0; i < fake.nroutes; i++) {
		struct fake_route *r = &fake.routes[i];

		if (strcmp(r->target, target) != 0)
			continue;
		status = r->status;
		answer = r->bodies[r->hits < r->nbodies ? r->hits :
		    r->nbodies - 1];
		r->hits++;
		break;
	}
	pthread_mutex_unlock(&fake.lock);
	n = snprintf(head, sizeof(head), "HTTP/1.1 %d Fake\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: close"
	    "\r\n\r\n", status, strlen(answer));
	(void)!write(c, head, n);
	(void)!write(c, answer, strlen(answer));
}

/* Read one request: its head, then Content-Length bytes of body. */
static void
fake_handle(int c)
{
	static char buf[65536];
	char target[300], method[16], path[256];
	size_t len = 0, want = 0;
	char *end = NULL, *cl;
	ssize_t n;

	while (len < sizeof(buf) - 1) {
		n = read(c, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return;
		len += n;
		buf[len] = '\0';
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			cl = strcasestr(buf, "\r\nContent-Length:");
			want = (end - buf) + 4 + (cl && cl < end ?
			    strtoul(cl + 17, NULL, 10) : 0);
		}
		if (end && len >= want)
			break;
	}
	if (!end || sscanf(buf, "%15s %255s", method, path) != 2)
		return;
	snprintf(target, sizeof(target), "%s %s", method, path);
	fake_answer(c, target, end + 4);
}

static void *
fake_serve(void *arg)
{
	struct timeval tv = { .tv_sec = 5 };

	(void)arg;
	for (;;) {
		int c = accept4(fake.fd, NULL, NULL, SOCK_CLOEXEC);

		if (c == -1 && errno == EINTR)
			continue;
		if (c == -1)
			return NULL;
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		fake_handle(c);
		close(c);
	}
}

static int
fake_start(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(fake.dir, sizeof(fake.dir), "/tmp/test_cli.XXXXXX");
	if (!mkdtemp(fake.dir))
		return -1;
	snprintf(fake.sock, sizeof(fake.sock), "%s/ternd.sock", fake.dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fake.sock);
	fake.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fake.fd == -1 || bind(fake.fd, (struct sockaddr *)&sa,
	    sizeof(sa)) == -1 || listen(fake.fd, 8) == -1)
		return -1;
	return pthread_create(&fake.thread, NULL, fake_serve, NULL);
}

static void
fake_stop(void)
{
	shutdown(fake.fd, SHUT_RDWR);
	pthread_join(fake.thread, NULL);
	close(fake.fd);
	unlink(fake.sock);
	rmdir(fake.dir);
}

/* Read the child's two pipes to their ends. */
static void
drain(int out, int err, struct run *r)
{
	struct pollfd p[2] = { { out, POLLIN, 0 }, { err, POLLIN, 0 } };
	size_t lens[2] = { 0, 0 }, caps[2] = { sizeof(r->out) - 1,
	    sizeof(r->err) - 1 };
	char *bufs[2] = { r->out, r->err };
	int open_ = 2;

	while (open_ > 0 && poll(p, 2, 20000) > 0) {
		for (int i = 0; i < 2; i++) {
			char tmp[4096];
			ssize_t n;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			n = read(p[i].fd, tmp, sizeof(tmp));
			if (n <= 0) {
				p[i].fd = -1;
				open_--;
				continue;
			}
			if ((size_t)n > caps[i] - lens[i])
				n = caps[i] - lens[i];
			memcpy(bufs[i] + lens[i], tmp, n);
			lens[i] += n;
		}
	}
	r->out[lens[0]] = '\0';
	r->err[lens[1]] = '\0';
}

/* Run cli_main(args) in a child, with "--socket FAKE" first when
 * with_socket, and SIGINT sent after sigint_ms when not 0. */
static void
run_ex(struct run *r, bool with_socket, int sigint_ms,
    const char *const *args)
{
	char *argv[64];
	int argc = 0, po[2], pe[2], status;
	pid_t pid;

	argv[argc++] = (char *)"tern";
	if (with_socket) {
		argv[argc++] = (char *)"--socket";
		argv[argc++] = fake.sock;
	}
	for (int i = 0; args[i]; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	if (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1)
		abort();
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		status = cli_main(argc, argv);
		fflush(NULL);
		_exit(status);
	}
	close(po[1]);
	close(pe[1]);
	if (sigint_ms > 0) {
		struct timespec ts = { sigint_ms / 1000,
		    (sigint_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		kill(pid, SIGINT);
	}
	drain(po[0], pe[0], r);
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &status, 0);
	r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 +
	    WTERMSIG(status);
}

#define TERN(r, ...) run_ex((r), true, 0, (const char *const[]){ \
	__VA_ARGS__, NULL })
#define TERN_RAW(r, ...) run_ex((r), false, 0, (const char *const[]){ \
	__VA_ARGS__, NULL })
#define TERN_SIGINT(r, ms, ...) run_ex((r), true, (ms), \
	(const char *const[]){ __VA_ARGS__, NULL })

static bool
fake_asked(const char *target)
{
	char line[300];
	bool found;

	snprintf(line, sizeof(line), "%s\n", target);
	pthread_mutex_lock(&fake.lock);
	found = strstr(fake.log, line) != NULL;
	pthread_mutex_unlock(&fake.lock);
	return found;
}

/* The last POST's or PUT's body, parsed; NULL if it is not JSON. */
static json_t *
fake_body(void)
{
	json_t *v;

	pthread_mutex_lock(&fake.lock);
	v = json_loads(fake.body, 0, NULL);
	pthread_mutex_unlock(&fake.lock);
	return v;
}

#define JOB(id, type, state, error) "{\"id\":" #id ",\"type\":\"" type \
	"\",\"vm\":\"web1\",\"state\":\"" state "\",\"progress\":{\"done\":1," \
	"\"total\":2,\"unit\":\"steps\"},\"rate\":null,\"eta_s\":null," \
	"\"error\":" error ",\"details\":{}}"
#define VM_WEB1 "{\"name\":\"web1\",\"uuid\":" \
	"\"6f1c1f7e-9b1e-4a51-9a43-0d4f3c2b1a00\",\"state\":\"off\"," \
	"\"cpus\":2,\"memory_mib\":512,\"cpu_compat\":false,\"cpu_model\":" \
	"\"host\",\"kernel\":null,\"initrd\":null,\"cmdline\":null," \
	"\"disks\":[{\"name\":\"vda\",\"path\":" \
	"\"/pools/local/web1-vda.qcow2\",\"pool\":\"local\"," \
	"\"virtual_size\":1073741824,\"allocated\":196608}]," \
	"\"nics\":[{\"mac\":\"52:54:00:12:34:56\",\"switch\":\"lan\"}]," \
	"\"host\":\"h1\",\"pid\":null," \
	"\"created_at\":\"2026-11-22T04:00:00Z\"," \
	"\"started_at\":null}"

static void
route_start_job(const char *last_state, const char *error)
{
	static char done[512];

	snprintf(done, sizeof(done), "{\"id\":18,\"type\":\"vm.start\","
	    "\"vm\":\"web1\",\"state\":\"%s\",\"progress\":{\"done\":0,"
	    "\"total\":0,\"unit\":\"steps\"},\"rate\":null,\"eta_s\":null,"
	    "\"error\":%s}", last_state, error);
	fake_reset();
	fake_route("POST /v1/vms/web1/start", 202,
	    "{\"job\":" JOB(18, "vm.start", "queued", "null") "}", NULL);
	fake_route("GET /v1/jobs/18", 200, JOB(18, "vm.start", "running",
	    "null"), done, NULL);
}

static void
test_print_formats(void)
{
	char b[256];
	json_t *j;

	ASSERT_STREQ(fmt_duration(5, b, sizeof(b)), "5s");
	ASSERT_STREQ(fmt_duration(65, b, sizeof(b)), "1m05s");
	ASSERT_STREQ(fmt_duration(3725, b, sizeof(b)), "1h02m");
	ASSERT_STREQ(fmt_mib(512, b, sizeof(b)), "512 MiB");
	ASSERT_STREQ(fmt_mib(2048, b, sizeof(b)), "2 GiB");
	j = json_loads("{\"id\":3,\"type\":\"vm.create\",\"vm\":\"web1\","
	    "\"state\":\"running\",\"progress\":{\"done\":1073741824,"
	    "\"total\":2147483648,\"unit\":\"bytes\"},\"rate\":157286400,"
	    "\"eta_s\":5}", 0, NULL);
	fmt_progress_bar(j, 0, 200, b, sizeof(b));
	ASSERT_STREQ(b, "[##########----------]  50%  1.0 GiB / 2.0 GiB  "
	    "150.0 MiB/s  ETA 5s  vm.create web1");
	fmt_progress_bar(j, 0, 10, b, sizeof(b));
	ASSERT_EQ(strlen(b), 10);
	ASSERT_STREQ(fmt_job_progress(j, b, sizeof(b)),
	    "50% (1.0 GiB / 2.0 GiB)");
	json_decref(j);
	j = json_loads("{\"type\":\"vm.start\",\"vm\":\"web1\",\"state\":"
	    "\"queued\",\"progress\":{\"done\":0,\"total\":0,\"unit\":"
	    "\"steps\"}}", 0, NULL);
	fmt_progress_bar(j, 1, 200, b, sizeof(b));
	ASSERT_STREQ(b, "/ queued  vm.start web1");
	json_decref(j);
}

static void
test_usage_errors(void)
{
	struct run r;

	fake_reset();
	TERN(&r, "frobnicate");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "tern: unknown command 'frobnicate'");
	TERN(&r, "vm", "list", "--bogus");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "unknown option '--bogus'");
	TERN(&r, "vm", "show");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "missing argument NAME");
	ASSERT_CONTAINS(r.err, "usage: tern vm show NAME");
	TERN(&r, "vm", "show", "a", "b");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "unexpected argument 'b'");
	TERN(&r, "vm");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "'vm' needs a subcommand");
	TERN(&r, "--frob", "vm", "list");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "unknown option '--frob'");
	TERN(&r, "job", "show", "12x");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "invalid job id '12x'");
	TERN(&r, "vm", "start", "web1", "--follow");
	ASSERT_EQ(r.rc, 2);
	TERN(&r, "pool", "list", "--no-wait");
	ASSERT_EQ(r.rc, 2);
	TERN(&r, "events", "--limit", "ten");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "invalid --limit 'ten'");
	TERN(&r, "peer", "add", "b", "https://10.0.0.2:7443");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "missing option --fingerprint");
	ASSERT_EQ(fake.log[0], '\0');
}

static void
test_vm_create_usage_errors(void)
{
	struct run r;

	fake_reset();
	TERN(&r, "vm", "create", "w", "--cpus", "1");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "missing option --memory SIZE");
	TERN(&r, "vm", "create", "w", "--cpus", "x", "--memory", "1G");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "invalid --cpus 'x'");
	TERN(&r, "vm", "create", "w", "--cpus", "1", "--memory", "12Q");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "invalid size '12Q'");
	TERN(&r, "vm", "create", "w", "--cpus", "1", "--memory", "1000000");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "whole number of MiB");
	TERN(&r, "vm", "create", "w", "--cpus", "1", "--memory", "8M");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "must be between 16M and 1048576M");
	TERN(&r, "vm", "create", "w", "--cpus", "1", "--memory", "1025G");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "must be between 16M and 1048576M");
	TERN(&r, "vm", "create", "w", "--cpus", "65", "--memory", "1G");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "invalid --cpus '65': must be between 1 and 64");
	TERN(&r, "vm", "create", "w", "--cpus", "1", "--cpus", "2",
	    "--memory", "1G");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "option --cpus given twice");
	TERN(&r, "vm", "create", "w", "--cpus", "1", "--memory", "1G",
	    "--disk", "1G@");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "no pool after '@'");
	TERN(&r, "vm", "create", "w", "--cpus", "1", "--memory", "1G",
	    "--initrd", "/boot/initrd.img");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "--initrd needs --kernel");
	TERN(&r, "vm", "create", "w", "--cpus", "--memory", "1G");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "option --cpus needs a value");
	ASSERT_EQ(fake.log[0], '\0');
}

static void
test_help_and_version(void)
{
	struct run r;

	TERN(&r, "--help");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "vm create NAME --cpus N --memory SIZE");
	ASSERT_CONTAINS(r.out, "job watch ID");
	ASSERT_CONTAINS(r.out, "events [--follow]");
	TERN(&r, "help");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "peer add NAME URL");
	TERN(&r, "vm", "create", "--help");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "Commands:");
	TERN(&r, "vm", "--help");
	ASSERT_EQ(r.rc, 0);
	TERN(&r, "--version");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "tern ");
}

/* The table for the completion and the man page's test: globals first,
 * then each command with its positionals and options, --no-wait on jobs;
 * no daemon asked, and not in --help. */
static void
test_commands_table(void)
{
	struct run r;

	TERN(&r, "__commands");
	ASSERT_EQ(r.rc, 0);
	ASSERT_EQ(strncmp(r.out, "-\t\t--socket=PATH\t--host=URL\t", 27), 0);
	ASSERT_CONTAINS(r.out, "\nvm create\tNAME\t--cpus=N\t--memory=SIZE\t"
	    "--disk=SIZE[@POOL]\t");
	ASSERT_CONTAINS(r.out, "\t--machine=TYPE\t--firmware=bios|uefi\t"
	    "--secure-boot\t--tpm\t");
	ASSERT_CONTAINS(r.out, "\t--ssh-key=FILE\t--cloud-init-net=NIC=ADDR/"
	    "PREFIX[,gw=GW][,dns=DNS]\t--hotplug-ports=N\t--no-wait\t--json\t"
	    "--help\n");
	ASSERT_CONTAINS(r.out, "\nvm nic remove\tNAME NIC\t--json\t"
	    "--help\n");
	ASSERT_CONTAINS(r.out, "\nvm kvp set\tNAME KEY VALUE\t--json\t"
	    "--help\n");
	ASSERT_CONTAINS(r.out, "\nevents\t\t--follow\t--vm=NAME\t");
	ASSERT_EQ(fake.log[0], '\0');
	TERN(&r, "--help");
	ASSERT_EQ(strstr(r.out, "__commands"), NULL);
}

static void
test_vm_create_body(void)
{
	json_t *b, *d;
	struct run r;

	fake_reset();
	fake_route("POST /v1/vms", 202, "{\"vm\":" VM_WEB1 ",\"job\":"
	    JOB(17, "vm.create", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/17", 200, JOB(17, "vm.create", "running",
	    "null"), JOB(17, "vm.create", "succeeded", "null"), NULL);
	TERN(&r, "vm", "create", "web1", "--cpus", "2", "--memory", "512M",
	    "--disk", "1G@local", "--disk-path", "/pools/local/data.qcow2",
	    "--disk", "2G", "--net", "lan", "--cpu-compat");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "vm 'web1' created\n");
	ASSERT_STREQ(r.err, "");
	ASSERT_TRUE(fake_asked("POST /v1/vms"));
	ASSERT_TRUE(fake_asked("GET /v1/jobs/17"));
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "name")), "web1");
	ASSERT_EQ(json_integer_value(json_object_get(b, "cpus")), 2);
	ASSERT_EQ(json_integer_value(json_object_get(b, "memory_mib")), 512);
	ASSERT_TRUE(json_is_true(json_object_get(b, "cpu_compat")));
	d = json_object_get(b, "disks");
	ASSERT_EQ(json_array_size(d), 3);
	ASSERT_EQ(json_integer_value(json_object_get(json_array_get(d, 0),
	    "size_bytes")), 1073741824);
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(d, 0),
	    "pool")), "local");
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(d, 1),
	    "path")), "/pools/local/data.qcow2");
	ASSERT_EQ(json_integer_value(json_object_get(json_array_get(d, 2),
	    "size_bytes")), 2147483648LL);
	ASSERT_TRUE(json_object_get(json_array_get(d, 2), "pool") == NULL);
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(
	    json_object_get(b, "nics"), 0), "switch")), "lan");
	ASSERT_EQ(json_object_size(b), 6);
	json_decref(b);
}

static void
test_vm_create_options_anywhere(void)
{
	json_t *b;
	struct run r;
	const char *k;

	fake_reset();
	fake_route("POST /v1/vms", 202, "{\"vm\":" VM_WEB1 ",\"job\":"
	    JOB(17, "vm.create", "succeeded", "null") "}", NULL);
	TERN(&r, "vm", "create", "--cpus", "1", "--memory=1G", "--kernel",
	    "vmlinuz", "--cmdline", "console=ttyS0", "web2");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "name")), "web2");
	ASSERT_EQ(json_integer_value(json_object_get(b, "memory_mib")), 1024);
	ASSERT_TRUE(json_is_false(json_object_get(b, "cpu_compat")));
	k = json_string_value(json_object_get(b, "kernel"));
	ASSERT_TRUE(k && k[0] == '/' && strstr(k, "/vmlinuz"));
	ASSERT_STREQ(json_string_value(json_object_get(b, "cmdline")),
	    "console=ttyS0");
	ASSERT_TRUE(json_object_get(b, "disks") == NULL);
	ASSERT_TRUE(json_object_get(b, "nics") == NULL);
	json_decref(b);
}

static void
test_not_found_message(void)
{
	struct run r;

	fake_reset();
	fake_route("GET /v1/vms/nope", 404, "{\"error\":{\"code\":\"not_found"
	    "\",\"message\":\"vm 'nope' not found\"}}", NULL);
	TERN(&r, "vm", "show", "nope");
	ASSERT_EQ(r.rc, 1);
	ASSERT_STREQ(r.err, "tern: vm 'nope' not found\n");
	ASSERT_STREQ(r.out, "");
	fake_route("POST /v1/pools", 409, "{\"error\":{\"code\":\"conflict\","
	    "\"message\":\"pool 'local' exists\"}}", NULL);
	TERN(&r, "pool", "create", "local", "/srv/pool");
	ASSERT_EQ(r.rc, 1);
	ASSERT_STREQ(r.err, "tern: pool 'local' exists\n");
	fake_route("GET /v1/host", 500, "oops", NULL);
	TERN(&r, "host", "info");
	ASSERT_EQ(r.rc, 1);
	ASSERT_CONTAINS(r.err, "ternd answered HTTP 500");
}

static void
test_job_succeeds(void)
{
	struct run r;

	route_start_job("succeeded", "null");
	TERN(&r, "vm", "start", "web1");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "vm 'web1' started\n");
	ASSERT_STREQ(r.err, "");
	ASSERT_TRUE(fake_asked("POST /v1/vms/web1/start"));
	ASSERT_TRUE(fake_asked("GET /v1/jobs/18"));
}

static void
test_job_fails(void)
{
	struct run r;

	route_start_job("failed", "\"qemu exited with status 1\"");
	TERN(&r, "vm", "start", "web1");
	ASSERT_EQ(r.rc, 1);
	ASSERT_STREQ(r.err, "tern: job 18 (vm.start web1) failed: qemu exited "
	    "with status 1\n");
	ASSERT_STREQ(r.out, "");
	route_start_job("cancelled", "null");
	TERN(&r, "job", "watch", "18");
	ASSERT_EQ(r.rc, 1);
	ASSERT_CONTAINS(r.err, "job 18 (vm.start web1) was cancelled");
}

/* A cancel ternd refuses (409, the job past its commit point) prints the
 * reason and fails; an accepted one says the job is cancelling. */
static void
test_job_cancel(void)
{
	struct run r;

	fake_reset();
	fake_route("POST /v1/jobs/18/cancel", 409, "{\"error\":{\"code\":"
	    "\"conflict\",\"message\":\"too late to cancel the move (job 18): "
	    "it is committing (commit)\"}}", NULL);
	TERN(&r, "job", "cancel", "18");
	ASSERT_EQ(r.rc, 1);
	ASSERT_STREQ(r.err, "tern: too late to cancel the move (job 18): it is "
	    "committing (commit)\n");
	ASSERT_STREQ(r.out, "");
	fake_reset();
	fake_route("POST /v1/jobs/18/cancel", 200, JOB(18, "vm.start",
	    "cancelling", "null"), NULL);
	TERN(&r, "job", "cancel", "18");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "cancel requested; it is cancelling");
}

static void
test_json_output(void)
{
	json_t *v;
	struct run r;

	fake_reset();
	fake_route("GET /v1/vms", 200, "{\"vms\":[" VM_WEB1 "]}", NULL);
	TERN(&r, "--json", "vm", "list");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE((v = json_loads(r.out, 0, NULL)) != NULL);
	ASSERT_EQ(json_array_size(json_object_get(v, "vms")), 1);
	json_decref(v);
	ASSERT_CONTAINS(r.out, "\n  \"vms\": [");
	route_start_job("succeeded", "null");
	TERN(&r, "vm", "start", "web1", "--json");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE((v = json_loads(r.out, 0, NULL)) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(v, "state")),
	    "succeeded");
	json_decref(v);
	fake_route("POST /v1/vms", 202, "{\"vm\":" VM_WEB1 ",\"job\":"
	    JOB(17, "vm.create", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/17", 200, JOB(17, "vm.create", "succeeded",
	    "null"), NULL);
	fake_route("GET /v1/vms/web1", 200, VM_WEB1, NULL);
	TERN(&r, "--json", "vm", "create", "web1", "--cpus", "2",
	    "--memory", "512M");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE((v = json_loads(r.out, 0, NULL)) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(json_object_get(v,
	    "vm"), "state")), "off");
	ASSERT_STREQ(json_string_value(json_object_get(json_object_get(v,
	    "job"), "state")), "succeeded");
	json_decref(v);
}

static void
test_no_wait(void)
{
	json_t *v;
	struct run r;

	route_start_job("succeeded", "null");
	TERN(&r, "--no-wait", "vm", "start", "web1");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "job 18\n");
	ASSERT_TRUE(!fake_asked("GET /v1/jobs/18"));
	TERN(&r, "vm", "start", "web1", "--no-wait", "--json");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE((v = json_loads(r.out, 0, NULL)) != NULL);
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(v,
	    "job"), "id")), 18);
	json_decref(v);
	ASSERT_TRUE(!fake_asked("GET /v1/jobs/18"));
}

static void
test_unreachable(void)
{
	char sock[200], want[300];
	struct run r;

	snprintf(sock, sizeof(sock), "%s/none.sock", fake.dir);
	TERN_RAW(&r, "--socket", sock, "vm", "list");
	ASSERT_EQ(r.rc, 1);
	snprintf(want, sizeof(want), "tern: cannot reach ternd at %s: No such "
	    "file or directory (is ternd running?)\n", sock);
	ASSERT_STREQ(r.err, want);
	TERN_RAW(&r, "--host", "https://127.0.0.1:1", "vm", "list");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "--host needs --fingerprint");
	TERN_RAW(&r, "--host", "https://127.0.0.1:1", "--fingerprint",
	    "sha256:abc", "vm", "list");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "invalid fingerprint 'sha256:abc'");
}

static void
test_sigint_stops_waiting(void)
{
	struct run r;

	route_start_job("running", "null");
	TERN_SIGINT(&r, 700, "vm", "start", "web1");
	ASSERT_EQ(r.rc, 1);
	ASSERT_STREQ(r.err, "tern: job 18 continues in the background; "
	    "follow it with 'tern job watch 18'\n");
	ASSERT_TRUE(!fake_asked("POST /v1/jobs/18/cancel"));
}

static void
test_paths_escaped(void)
{
	struct run r;

	fake_reset();
	TERN(&r, "vm", "show", "a b/c?d");
	ASSERT_EQ(r.rc, 1);
	ASSERT_TRUE(fake_asked("GET /v1/vms/a%20b%2Fc%3Fd"));
	fake_route("DELETE /v1/vms/web1?keep_disks=1", 202, "{\"job\":"
	    JOB(19, "vm.delete", "succeeded", "null") "}", NULL);
	TERN(&r, "vm", "delete", "--keep-disks", "web1");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "vm 'web1' deleted");
	TERN(&r, "job", "list", "--vm", "we b", "--active");
	ASSERT_TRUE(fake_asked("GET /v1/jobs?vm=we%20b&active=1"));
}

/* vm nic add|set|remove: the routes and bodies, a set without a change
 * and a bad --vlan refused before asking. */
static void
test_vm_nic(void)
{
	struct run r;
	json_t *b;

	fake_reset();
	fake_route("POST /v1/vms/web1/nics", 200, VM_WEB1, NULL);
	TERN(&r, "vm", "nic", "add", "web1", "--net",
	    "lan,vlan=10,trunk=20-30,40");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "vm 'web1': nic added on switch 'lan'");
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "switch")), "lan");
	ASSERT_EQ(json_integer_value(json_object_get(b, "vlan")), 10);
	ASSERT_STREQ(json_string_value(json_object_get(b, "trunks")),
	    "20-30,40");
	json_decref(b);
	fake_route("PUT /v1/vms/web1/nics/nic1", 200, VM_WEB1, NULL);
	TERN(&r, "vm", "nic", "set", "web1", "nic1", "--vlan", "none",
	    "--trunk", "none", "--switch", "wan");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE(fake_asked("PUT /v1/vms/web1/nics/nic1"));
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_EQ(json_integer_value(json_object_get(b, "vlan")), 0);
	ASSERT_STREQ(json_string_value(json_object_get(b, "trunks")), "");
	ASSERT_STREQ(json_string_value(json_object_get(b, "switch")), "wan");
	json_decref(b);
	fake_route("DELETE /v1/vms/web1/nics/52%3A54%3A00%3A00%3A00%3A01",
	    200, VM_WEB1, NULL);
	TERN(&r, "vm", "nic", "remove", "web1", "52:54:00:00:00:01");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "nic '52:54:00:00:00:01' removed");
	fake_reset();
	TERN(&r, "vm", "nic", "set", "web1", "nic1");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "nothing to change");
	TERN(&r, "vm", "nic", "set", "web1", "nic1", "--vlan", "4095");
	ASSERT_EQ(r.rc, 2);
	TERN(&r, "vm", "nic", "add", "web1");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "--net");
	ASSERT_EQ(fake.log[0], '\0');
}

static void
test_vm_show_human(void)
{
	struct run r;

	fake_reset();
	fake_route("GET /v1/vms/web1", 200, VM_WEB1, NULL);
	TERN(&r, "vm", "show", "web1");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "memory:     512 MiB\n");
	ASSERT_CONTAINS(r.out, "boot:       disk\n");
	ASSERT_CONTAINS(r.out, "NAME  POOL   VIRTUAL  ALLOCATED  PATH\n");
	ASSERT_CONTAINS(r.out, "vda   local  1.0 GiB  192.0 KiB  "
	    "/pools/local/web1-vda.qcow2\n");
	ASSERT_CONTAINS(r.out, "52:54:00:12:34:56  lan\n");
	fake_route("GET /v1/vms", 200, "{\"vms\":[" VM_WEB1 "]}", NULL);
	TERN(&r, "vm", "list");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "NAME  STATE  CPUS  MEMORY   DISKS  UUID\n");
	ASSERT_CONTAINS(r.out, "web1  off    2     512 MiB  1      6f1c");
}

#define EV1 "{\"id\":1,\"time\":\"2026-11-22T04:00:00Z\",\"severity\":" \
	"\"info\",\"vm\":\"web1\",\"job\":17,\"message\":\"vm created\"}"
#define EV2 "{\"id\":2,\"time\":\"2026-11-22T04:00:05Z\",\"severity\":" \
	"\"warning\",\"vm\":null,\"job\":null,\"message\":\"pool low\"}"

static void
test_events(void)
{
	json_t *v;
	struct run r;

	fake_reset();
	fake_route("GET /v1/events?after=0&limit=1000", 200, "{\"events\":["
	    EV1 "," EV2 "],\"last_id\":2}", NULL);
	fake_route("GET /v1/events?after=0&limit=1", 200, "{\"events\":["
	    EV1 "],\"last_id\":1}", NULL);
	fake_route("GET /v1/events?after=2&limit=1000", 200, "{\"events\":[],"
	    "\"last_id\":2}", NULL);
	TERN(&r, "events");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "2026-11-22T04:00:00Z info    [web1] vm created "
	    "(job 17)\n2026-11-22T04:00:05Z warning pool low\n");
	TERN(&r, "events", "--limit", "1");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "2026-11-22T04:00:00Z info    [web1] vm created "
	    "(job 17)\n");
	TERN(&r, "events", "--json");
	ASSERT_TRUE((v = json_loads(r.out, 0, NULL)) != NULL);
	ASSERT_EQ(json_array_size(json_object_get(v, "events")), 2);
	ASSERT_EQ(json_integer_value(json_object_get(v, "last_id")), 2);
	json_decref(v);
	TERN_SIGINT(&r, 1200, "events", "--follow");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "pool low\n");
	ASSERT_STREQ(r.err, "");
	ASSERT_TRUE(fake_asked("GET /v1/events?after=2&limit=1000"));
}

static void
test_console(void)
{
	json_t *v;
	struct run r;

	fake_reset();
	fake_route("GET /v1/vms/web1/console?offset=0", 200,
	    "{\"offset\":6,\"data\":\"hello\\n\"}", NULL);
	fake_route("GET /v1/vms/web1/console?offset=6", 200,
	    "{\"offset\":12,\"data\":\"world\\n\"}", NULL);
	fake_route("GET /v1/vms/web1/console?offset=12", 200,
	    "{\"offset\":12,\"data\":\"\"}", NULL);
	TERN(&r, "vm", "console", "web1");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "hello\nworld\n");
	TERN(&r, "vm", "console", "web1", "--json");
	ASSERT_TRUE((v = json_loads(r.out, 0, NULL)) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(v, "data")),
	    "hello\nworld\n");
	ASSERT_EQ(json_integer_value(json_object_get(v, "offset")), 12);
	json_decref(v);
}

static void
test_objects(void)
{
	json_t *b;
	struct run r;

	fake_reset();
	fake_route("GET /v1/pools", 200, "{\"pools\":[{\"name\":\"local\","
	    "\"path\":\"/srv/pool\",\"size_bytes\":107374182400,\"free_bytes\":"
	    "53687091200}]}", NULL);
	fake_route("POST /v1/peers", 201, "{\"name\":\"b\"}", NULL);
	fake_route("DELETE /v1/switches/lan", 200, "{}", NULL);
	TERN(&r, "pool", "list");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "NAME   PATH       SIZE       FREE\n"
	    "local  /srv/pool  100.0 GiB  50.0 GiB\n");
	TERN(&r, "peer", "add", "b", "https://10.0.0.2:7443", "--fingerprint",
	    "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbcc"
	    "ddeeff");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "url")),
	    "https://10.0.0.2:7443");
	json_decref(b);
	TERN(&r, "switch", "delete", "lan");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "switch 'lan' deleted\n");
}

static void
test_vm_export(void)
{
	const char *dir;
	json_t *b;
	struct run r;

	fake_reset();
	fake_route("POST /v1/vms/web1/export", 202, "{\"job\":"
	    JOB(20, "vm.export", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/20", 200, JOB(20, "vm.export", "succeeded",
	    "null"), NULL);
	TERN(&r, "vm", "export", "web1", "exports/web1");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "vm 'web1' exported to /");
	ASSERT_TRUE((b = fake_body()) != NULL);
	dir = json_string_value(json_object_get(b, "dir"));
	/* Made absolute for ternd, whose working directory is not ours. */
	ASSERT_TRUE(dir && dir[0] == '/' && strstr(dir, "/exports/web1"));
	ASSERT_EQ(json_object_size(b), 1);
	json_decref(b);
	TERN(&r, "vm", "export", "web1");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "missing argument DIR");
}

/* `vm failover planned`: its route and body; --timeout checked here. */
static void
test_vm_failover_planned(void)
{
	json_t *b;
	struct run r;

	fake_reset();
	fake_route("POST /v1/vms/web1/failover/planned", 202, "{\"job\":"
	    JOB(21, "vm.failover-planned", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/21", 200, JOB(21, "vm.failover-planned",
	    "succeeded", "null"), NULL);
	TERN(&r, "vm", "failover", "planned", "web1", "--timeout", "30",
	    "--force");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "vm 'web1' failed over");
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_EQ(json_integer_value(json_object_get(b, "timeout_s")), 30);
	ASSERT_TRUE(json_is_true(json_object_get(b, "force")));
	json_decref(b);
	TERN(&r, "vm", "failover", "planned", "web1", "--timeout", "0");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "--timeout");
}

/* A verb of two words wins over one: `vm failover test web1` is the test
 * failover of web1, not the failover of a VM named "test". */
static void
test_vm_failover_test_verb(void)
{
	struct run r;

	fake_reset();
	fake_route("POST /v1/vms/web1/failover/test", 202, "{\"job\":"
	    JOB(22, "vm.failover-test", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/22", 200, JOB(22, "vm.failover-test",
	    "succeeded", "null"), NULL);
	TERN(&r, "vm", "failover", "test", "web1");
	ASSERT_EQ(r.rc, 0);
	fake_route("POST /v1/vms/web1/failover", 202, "{\"job\":"
	    JOB(23, "vm.failover", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/23", 200, JOB(23, "vm.failover",
	    "succeeded", "null"), NULL);
	TERN(&r, "vm", "failover", "web1");
	ASSERT_EQ(r.rc, 0);
}

static void
test_vm_import(void)
{
	json_t *b;
	struct run r;

	fake_reset();
	fake_route("POST /v1/imports", 202, "{\"vm\":" VM_WEB1 ",\"job\":"
	    JOB(21, "vm.import", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/21", 200, JOB(21, "vm.import", "succeeded",
	    "null"), NULL);
	fake_route("GET /v1/vms/web1", 200, VM_WEB1, NULL);
	TERN(&r, "vm", "import", "/srv/exp/web1", "--name", "web1",
	    "--new-id", "--pool", "local");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "vm 'web1' imported: uuid "
	    "6f1c1f7e-9b1e-4a51-9a43-0d4f3c2b1a00, state off\n");
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "dir")),
	    "/srv/exp/web1");
	ASSERT_STREQ(json_string_value(json_object_get(b, "mode")), "copy");
	ASSERT_STREQ(json_string_value(json_object_get(b, "name")), "web1");
	ASSERT_STREQ(json_string_value(json_object_get(b, "pool")), "local");
	ASSERT_TRUE(json_is_true(json_object_get(b, "new_id")));
	json_decref(b);
	TERN(&r, "vm", "import", "/srv/exp/web1", "--register");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "mode")),
	    "register");
	ASSERT_TRUE(json_object_get(b, "new_id") == NULL);
	json_decref(b);
}

static void
test_vm_import_usage_errors(void)
{
	struct run r;

	fake_reset();
	TERN(&r, "vm", "import", "/x", "--copy", "--register");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "--copy and --register exclude each other");
	TERN(&r, "vm", "import", "/x", "--register", "--pool", "local");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "--pool goes with --copy");
	TERN(&r, "vm", "import", "/x", "--name");
	ASSERT_EQ(r.rc, 2);
	ASSERT_TRUE(!fake_asked("POST /v1/imports"));
}

/* import-libvirt sends the file's text, prints what was left out, and
 * refuses an oversized or missing file before asking ternd. */
static void
test_vm_import_libvirt(void)
{
	char path[] = "/tmp/tern-test-lv-XXXXXX";
	const char *xml = "<domain type='kvm'><name>web1</name></domain>\n";
	int fd = mkstemp(path);
	json_t *b;
	struct run r;

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(write(fd, xml, strlen(xml)), (ssize_t)strlen(xml));
	fake_reset();
	fake_route("POST /v1/vms/import-libvirt", 202, "{\"vm\":" VM_WEB1
	    ",\"left_out\":[\"graphics vnc\"],\"job\":"
	    JOB(24, "vm.import-libvirt", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/24", 200, JOB(24, "vm.import-libvirt",
	    "succeeded", "null"), NULL);
	fake_route("GET /v1/vms/web1", 200, VM_WEB1, NULL);
	TERN(&r, "vm", "import-libvirt", path, "--pool", "local");
	ASSERT_EQ(r.rc, 0);
	ASSERT_CONTAINS(r.out, "vm 'web1' imported from libvirt: uuid "
	    "6f1c1f7e-9b1e-4a51-9a43-0d4f3c2b1a00, state off\n");
	ASSERT_CONTAINS(r.out, "left out");
	ASSERT_CONTAINS(r.out, "  graphics vnc\n");
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "xml")), xml);
	ASSERT_STREQ(json_string_value(json_object_get(b, "mode")), "copy");
	ASSERT_STREQ(json_string_value(json_object_get(b, "pool")), "local");
	json_decref(b);
	TERN(&r, "vm", "import-libvirt", path, "--register");
	ASSERT_EQ(r.rc, 0);
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "mode")),
	    "register");
	json_decref(b);
	fake_reset();
	TERN(&r, "vm", "import-libvirt", path, "--register", "--pool", "x");
	ASSERT_EQ(r.rc, 2);
	ASSERT_TRUE(ftruncate(fd, 600 * 1024) == 0);
	TERN(&r, "vm", "import-libvirt", path);
	ASSERT_EQ(r.rc, 1);
	ASSERT_CONTAINS(r.err, "is larger than 512 KiB");
	close(fd);
	unlink(path);
	TERN(&r, "vm", "import-libvirt", path);
	ASSERT_EQ(r.rc, 1);
	ASSERT_CONTAINS(r.err, "cannot read");
	ASSERT_TRUE(!fake_asked("POST /v1/vms/import-libvirt"));
}

#define STORAGE_DONE "{\"id\":22,\"type\":\"vm.move-storage\",\"vm\":" \
	"\"web1\",\"state\":\"succeeded\",\"progress\":{\"done\":2," \
	"\"total\":2,\"unit\":\"bytes\"},\"rate\":null,\"eta_s\":0," \
	"\"error\":null,\"details\":{\"mode\":\"live\",\"disks\":[" \
	"{\"name\":\"vda\",\"dst_pool\":\"fast\"},{\"name\":\"vdb\"," \
	"\"dst_pool\":\"slow\"}],\"copied_bytes\":327155712," \
	"\"total_ms\":4100}}"

static void
test_vm_move_storage(void)
{
	const char *v;
	json_t *b;
	struct run r;

	fake_reset();
	fake_route("POST /v1/vms/web1/move-storage", 202, "{\"job\":"
	    JOB(22, "vm.move-storage", "running", "null") "}", NULL);
	fake_route("GET /v1/jobs/22", 200, STORAGE_DONE, NULL);
	TERN(&r, "vm", "move-storage", "web1", "--to", "fast");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "vm 'web1' storage moved to fast: 2 disks, 312 "
	    "MiB copied in 4.1 s (live)\n");
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(b, "to")), "fast");
	ASSERT_EQ(json_object_size(b), 1);
	json_decref(b);
	TERN(&r, "vm", "move-storage", "web1", "--disk", "vda=fast",
	    "--disk", "vdb=pools/slow");
	ASSERT_EQ(r.rc, 0);
	ASSERT_STREQ(r.out, "vm 'web1' storage moved: vda to fast, vdb to "
	    "slow: 2 disks, 312 MiB copied in 4.1 s (live)\n");
	ASSERT_TRUE((b = fake_body()) != NULL);
	ASSERT_STREQ(json_string_value(json_object_get(json_object_get(b,
	    "disks"), "vda")), "fast");
	/* A directory is made absolute for ternd. */
	v = json_string_value(json_object_get(json_object_get(b, "disks"),
	    "vdb"));
	ASSERT_TRUE(v && v[0] == '/' && strstr(v, "/pools/slow"));
	ASSERT_TRUE(json_object_get(b, "to") == NULL);
	json_decref(b);
}

static void
test_vm_move_storage_usage_errors(void)
{
	struct run r;

	fake_reset();
	TERN(&r, "vm", "move-storage", "web1");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "missing option --to POOL|DIR or --disk");
	TERN(&r, "vm", "move-storage", "web1", "--to", "a", "--disk", "vda=b");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "--to and --disk exclude each other");
	TERN(&r, "vm", "move-storage", "web1", "--disk", "vda=a", "--disk",
	    "vda=b");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "disk vda given twice");
	TERN(&r, "vm", "move-storage", "web1", "--disk", "vda");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "expected DISK=POOL|DIR");
	TERN(&r, "vm", "move-storage", "web1", "--disk", "=a");
	ASSERT_EQ(r.rc, 2);
	TERN(&r, "vm", "move-storage", "web1", "--to", "a", "--to", "b");
	ASSERT_EQ(r.rc, 2);
	ASSERT_CONTAINS(r.err, "option --to given twice");
	ASSERT_TRUE(!fake_asked("POST /v1/vms/web1/move-storage"));
}

int
main(void)
{
	unsetenv("TERN_HOST");
	unsetenv("TERN_SOCKET");
	unsetenv("TERN_FINGERPRINT");
	if (fake_start() < 0) {
		perror("fake ternd");
		return 1;
	}
	RUN_TEST(test_print_formats);
	RUN_TEST(test_usage_errors);
	RUN_TEST(test_vm_create_usage_errors);
	RUN_TEST(test_help_and_version);
	RUN_TEST(test_commands_table);
	RUN_TEST(test_vm_create_body);
	RUN_TEST(test_vm_create_options_anywhere);
	RUN_TEST(test_not_found_message);
	RUN_TEST(test_job_succeeds);
	RUN_TEST(test_job_cancel);
	RUN_TEST(test_job_fails);
	RUN_TEST(test_json_output);
	RUN_TEST(test_no_wait);
	RUN_TEST(test_unreachable);
	RUN_TEST(test_sigint_stops_waiting);
	RUN_TEST(test_paths_escaped);
	RUN_TEST(test_vm_nic);
	RUN_TEST(test_vm_show_human);
	RUN_TEST(test_events);
	RUN_TEST(test_console);
	RUN_TEST(test_objects);
	RUN_TEST(test_vm_export);
	RUN_TEST(test_vm_import);
	RUN_TEST(test_vm_failover_planned);
	RUN_TEST(test_vm_failover_test_verb);
	RUN_TEST(test_vm_import_usage_errors);
	RUN_TEST(test_vm_import_libvirt);
	RUN_TEST(test_vm_move_storage);
	RUN_TEST(test_vm_move_storage_usage_errors);
	fake_stop();
	return TEST_REPORT();
}
